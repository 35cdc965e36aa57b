/* tls.h: the agent's TLS context: versions, ciphers, and its certificate kept in the NV store. */
#ifndef AGENT_TLS_H
#define AGENT_TLS_H

#include <openssl/ssl.h>

/* Builds the server context: loads key and certificate from the NV store, or makes an
 * ECDSA P-256 self-signed pair on first start and stores it. NULL on failure (printed). */
SSL_CTX *tls_server_ctx(void);
/* The SHA-256 fingerprint of the certificate in use, hex with colons (for the log). */
const char *tls_fingerprint(void);
/* The certificate in use (owned by the context). */
X509 *tls_certificate(void);
/* Installs an operator's certificate: PEM text with the certificate and its private key
 * (EC >= 256 bits or RSA >= 2048, not expired); stored, then served to new connections.
 * 0, or -1 with why filled. */
int tls_replace(const char *pem, size_t n, char *why, size_t wn);

#endif
