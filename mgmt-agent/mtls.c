/* mtls.c: client-certificate login.  Clients are asked for a certificate (not required); one
 * that does not verify against the bundle ends the handshake, so a mapped name is always a
 * verified one.  The Subject CN names the account (Redfish CertificateMappingAttribute
 * CommonName). */
#include "mtls.h"
#include "nv.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_bundle(SSL_CTX *ctx, const void *pem, size_t n)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int count = 0;
    X509 *x;
    while (b && names && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, x) == 1) {
            sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
            count++;
        }
        X509_free(x);
    }
    ERR_clear_error(); /* the end of the bundle reads as an error */
    BIO_free(b);
    if (!count) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* the CertificateRequest names them */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* Resumed sessions keep their verified peer; OpenSSL wants a context to resume in. */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"vigil-agent", 11);
    SSL_CTX_set_verify_depth(ctx, 4);
    return count;
}

int mtls_setup(SSL_CTX *ctx, const char *file)
{
    uint8_t *pem = NULL;
    size_t n = 0;
    const char *from = file;
    if (file) {
        FILE *f = fopen(file, "rb");
        long len = -1;
        if (f && !fseek(f, 0, SEEK_END) && (len = ftell(f)) > 0 && len < (1 << 20) &&
            !fseek(f, 0, SEEK_SET) && (pem = malloc((size_t)len)))
            n = fread(pem, 1, (size_t)len, f);
        if (f)
            fclose(f);
        if (!n) {
            fprintf(stderr, "mgmt-agent: --client-ca %s: cannot read it\n", file);
            free(pem);
            return -1;
        }
    } else if (nv_get(MTLS_NV_KEY, &pem, &n) != 0) {
        return 0; /* no bundle: certificates are not asked for */
    } else {
        from = "NV record " MTLS_NV_KEY;
    }
    int count = load_bundle(ctx, pem, n);
    free(pem);
    if (count < 0) {
        fprintf(stderr, "mgmt-agent: %s holds no PEM certificate\n", from);
        return -1;
    }
    fprintf(stderr, "mgmt-agent: client certificates from %d CA(s) in %s log in as their CN\n",
            count, from);
    return 0;
}

void mtls_peer_user(SSL *ssl, char *user, size_t n)
{
    user[0] = 0;
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
        return;
    char cn[128] = "";
    int len = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    if (len > 0 && (size_t)len < n && strlen(cn) == (size_t)len) /* no NUL inside */
        snprintf(user, n, "%s", cn);
}
