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

#define NV_KEY  "agent.tls.key"
#define NV_CERT "agent.tls.crt"

/* TLS 1.2: forward secrecy and AEAD only; TLS 1.3's suites are all fine as they are. */
static const char cipher_list[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

static char fingerprint[3 * 32 + 1];

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

/* A new ECDSA P-256 key and a self-signed certificate for it, valid ten years. */
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
    X509_gmtime_adj(X509_getm_notAfter(*cert), 10L * 365 * 24 * 3600);
    X509_NAME *name = X509_get_subject_name(*cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Vigil", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"vigil-mgmt", -1,
                               -1, 0);
    X509_set_issuer_name(*cert, name);
    X509_set_pubkey(*cert, *key);
    if (add_ext(*cert, NID_subject_alt_name, "DNS:localhost,DNS:vigil-mgmt,IP:127.0.0.1") ||
        add_ext(*cert, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(*cert, NID_key_usage, "critical,digitalSignature") ||
        add_ext(*cert, NID_ext_key_usage, "serverAuth"))
        return -1;
    return X509_sign(*cert, *key, EVP_sha256()) > 0 ? 0 : -1;
}

static int store(EVP_PKEY *key, X509 *cert)
{
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    int rc = -1;
    char *kp, *cp;
    if (kb && cb && PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) &&
        PEM_write_bio_X509(cb, cert)) {
        long kl = BIO_get_mem_data(kb, &kp), cl = BIO_get_mem_data(cb, &cp);
        /* The key first: a certificate without its key would be useless after a crash. */
        rc = nv_put(NV_KEY, kp, (size_t)kl) || nv_put(NV_CERT, cp, (size_t)cl) ? -1 : 0;
    }
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

static int load(EVP_PKEY **key, X509 **cert)
{
    uint8_t *kp = NULL, *cp = NULL;
    size_t kl, cl;
    int rk = nv_get(NV_KEY, &kp, &kl), rc = rk ? rk : nv_get(NV_CERT, &cp, &cl);
    if (rc == 0) {
        BIO *kb = BIO_new_mem_buf(kp, (int)kl), *cb = BIO_new_mem_buf(cp, (int)cl);
        *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        BIO_free(kb);
        BIO_free(cb);
        if (!*key || !*cert || X509_check_private_key(*cert, *key) != 1) {
            fprintf(stderr, "mgmt-agent: the stored TLS key or certificate is unusable\n");
            rc = -1;
        }
    }
    free(kp);
    free(cp);
    return rc;
}

const char *tls_fingerprint(void)
{
    return fingerprint;
}

SSL_CTX *tls_server_ctx(void)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = load(&key, &cert);
    if (rc == 1) {
        if (generate(&key, &cert) || store(key, cert)) {
            ssl_errors("cannot create and store the TLS certificate");
            goto fail;
        }
        fprintf(stderr, "mgmt-agent: created a self-signed ECDSA P-256 certificate\n");
    } else if (rc < 0) {
        goto fail;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, cipher_list) || !SSL_CTX_use_certificate(ctx, cert) ||
        !SSL_CTX_use_PrivateKey(ctx, key)) {
        ssl_errors("cannot set up TLS");
        SSL_CTX_free(ctx);
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    unsigned char md[32];
    unsigned int mdl = 0;
    X509_digest(cert, EVP_sha256(), md, &mdl);
    for (unsigned i = 0; i < mdl; i++)
        snprintf(fingerprint + 3 * i, 4, "%02X%s", md[i], i + 1 < mdl ? ":" : "");
    EVP_PKEY_free(key);
    X509_free(cert);
    return ctx;
fail:
    EVP_PKEY_free(key);
    X509_free(cert);
    return NULL;
}
