/* tls.c: OpenSSL server context (TLS 1.2/1.3, modern ciphers) and the certificate's life. */
#include "tls.h"
#include "nv.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NV_TLS "agent.tls" /* PEM: the private key, then the certificate */

/* TLS 1.2: forward secrecy and AEAD only; TLS 1.3's suites are all fine as they are. */
static const char cipher_list[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

static char fingerprint[3 * 32 + 1];
static SSL_CTX *live; /* the one context; a replaced certificate goes into it */

static void ssl_errors(const char *what)
{
    fprintf(stderr, "mgmt-agent: %s: ", what);
    ERR_print_errors_fp(stderr);
    fputc('\n', stderr);
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* The self-made certificate's life: under the 825 days that CA/Browser Forum rules (and
 * testssl.sh) allow; the agent renews it at a start within RENEW_DAYS of its end. */
#define VALID_DAYS 800
#define RENEW_DAYS 30
#define SELF_CN    "vigil-mgmt"

/* A new ECDSA P-256 key and a self-signed certificate for it, valid VALID_DAYS. */
static int generate(EVP_PKEY **key, X509 **cert)
{
    *key = EVP_EC_gen("P-256");
    *cert = X509_new();
    if (!*key || !*cert)
        return -1;
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1)
        return -1;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    X509_set_serialNumber(*cert, sn);
    ASN1_INTEGER_free(sn);
    X509_set_version(*cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(*cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(*cert), (long)VALID_DAYS * 24 * 3600);
    X509_NAME *name = X509_get_subject_name(*cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Vigil", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)SELF_CN, -1, -1, 0);
    X509_set_issuer_name(*cert, name);
    X509_set_pubkey(*cert, *key);
    if (add_ext(*cert, NID_subject_alt_name, "DNS:localhost,DNS:vigil-mgmt,IP:127.0.0.1") ||
        add_ext(*cert, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(*cert, NID_key_usage, "critical,digitalSignature") ||
        add_ext(*cert, NID_ext_key_usage, "serverAuth"))
        return -1;
    return X509_sign(*cert, *key, EVP_sha256()) > 0 ? 0 : -1;
}

/* Key and certificate in one record, so that a crash never pairs a new key with an old
 * certificate (the NV store writes each record atomically). */
static int store(EVP_PKEY *key, X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = -1;
    char *p;
    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) &&
        PEM_write_bio_X509(b, cert)) {
        long n = BIO_get_mem_data(b, &p);
        rc = nv_put(NV_TLS, p, (size_t)n);
    }
    BIO_free(b);
    return rc;
}

/* Reads a private key and a certificate, in any order, from PEM text. */
static int parse_pem(const void *pem, size_t n, EVP_PKEY **key, X509 **cert)
{
    BIO *kb = BIO_new_mem_buf(pem, (int)n), *cb = BIO_new_mem_buf(pem, (int)n);
    *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    BIO_free(kb);
    BIO_free(cb);
    ERR_clear_error();
    return *key && *cert && X509_check_private_key(*cert, *key) == 1 ? 0 : -1;
}

static int load(EVP_PKEY **key, X509 **cert)
{
    uint8_t *p = NULL;
    size_t n;
    int rc = nv_get(NV_TLS, &p, &n);
    if (rc == 0 && parse_pem(p, n, key, cert)) {
        fprintf(stderr, "mgmt-agent: the stored TLS key or certificate is unusable\n");
        rc = -1;
    }
    free(p);
    return rc;
}

const char *tls_fingerprint(void)
{
    return fingerprint;
}

X509 *tls_certificate(void)
{
    return live ? SSL_CTX_get0_certificate(live) : NULL;
}

/* Makes key and cert the ones new connections get. */
static int install(EVP_PKEY *key, X509 *cert)
{
    if (!SSL_CTX_use_certificate(live, cert) || !SSL_CTX_use_PrivateKey(live, key))
        return -1;
    unsigned char md[32];
    unsigned int mdl = 0;
    X509_digest(cert, EVP_sha256(), md, &mdl);
    for (unsigned i = 0; i < mdl; i++)
        snprintf(fingerprint + 3 * i, 4, "%02X%s", md[i], i + 1 < mdl ? ":" : "");
    return 0;
}

int tls_replace(const char *pem, size_t n, char *why, size_t wn)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = -1, bits;
    if (parse_pem(pem, n, &key, &cert))
        snprintf(why, wn, "CertificateString must hold a PEM certificate and its private key");
    else if ((bits = EVP_PKEY_get_bits(key)) <
             (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? 256 : 2048))
        snprintf(why, wn, "the key is too weak (%d bits)", bits);
    else if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
        snprintf(why, wn, "the certificate has expired");
    else if (store(key, cert))
        snprintf(why, wn, "the certificate could not be stored");
    else if (install(key, cert))
        snprintf(why, wn, "OpenSSL refused the certificate");
    else
        rc = 0;
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}

/* The agent's own certificate (self-signed, our CN) near its end; an operator's is theirs. */
static int self_made_and_ending(X509 *cert)
{
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    time_t soon = time(NULL) + (time_t)RENEW_DAYS * 24 * 3600;
    return !strcmp(cn, SELF_CN) && X509_check_issued(cert, cert) == X509_V_OK &&
           X509_cmp_time(X509_get0_notAfter(cert), &soon) < 0;
}

SSL_CTX *tls_server_ctx(void)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = load(&key, &cert);
    if (rc == 0 && self_made_and_ending(cert)) {
        fprintf(stderr,
                "mgmt-agent: the self-made certificate ends within %d days: renewing it "
                "(its fingerprint changes)\n",
                RENEW_DAYS);
        EVP_PKEY_free(key);
        X509_free(cert);
        key = NULL, cert = NULL;
        rc = 1;
    }
    if (rc == 1) {
        if (generate(&key, &cert) || store(key, cert)) {
            ssl_errors("cannot create and store the TLS certificate");
            goto fail;
        }
        fprintf(stderr, "mgmt-agent: created a self-signed ECDSA P-256 certificate\n");
    } else if (rc < 0) {
        goto fail;
    }
    live = SSL_CTX_new(TLS_server_method());
    if (!live || !SSL_CTX_set_min_proto_version(live, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(live, cipher_list) || install(key, cert)) {
        ssl_errors("cannot set up TLS");
        SSL_CTX_free(live);
        live = NULL;
        goto fail;
    }
    SSL_CTX_set_options(live, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(live, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
fail:
    EVP_PKEY_free(key);
    X509_free(cert);
    return live;
}
