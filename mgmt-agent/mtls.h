/* mtls.h: optional client-certificate (mTLS) login: the client-CA bundle and the mapping of a
 * verified certificate to an account. */
#ifndef AGENT_MTLS_H
#define AGENT_MTLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#define MTLS_NV_KEY "agent.clientca" /* the bundle, when no --client-ca file is given */

/* Asks clients for a certificate issued by a CA in the PEM bundle (the file, or else the NV
 * record MTLS_NV_KEY; neither: mTLS stays off, returns 0).  -1 (printed) if the bundle holds
 * no usable certificate. */
int mtls_setup(SSL_CTX *ctx, const char *file);
/* The user name a verified client certificate on ssl maps to (its Subject CN), or "" when it
 * presented none. */
void mtls_peer_user(SSL *ssl, char *user, size_t n);

#endif
