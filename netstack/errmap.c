/* errmap.c: lwIP's err_t values as Linux errno values, the one place they are translated. */
#include "xlate.h"
#include <errno.h>

int ns_errno(err_t err)
{
    switch (err) {
    case ERR_OK:
        return 0;
    case ERR_MEM:
    case ERR_BUF:
        return ENOBUFS; /* what Linux says when network buffers run out */
    case ERR_TIMEOUT:
        return ETIMEDOUT;
    case ERR_RTE:
        return ENETUNREACH;
    case ERR_INPROGRESS:
        return EINPROGRESS;
    case ERR_VAL:
    case ERR_ARG:
        return EINVAL;
    case ERR_WOULDBLOCK:
        return EAGAIN;
    case ERR_USE:
        return EADDRINUSE;
    case ERR_ALREADY:
        return EALREADY;
    case ERR_ISCONN:
        return EISCONN;
    case ERR_CONN:
        return ENOTCONN;
    case ERR_IF:
        return ENETDOWN;
    case ERR_ABRT:
        return ECONNABORTED;
    case ERR_RST:
        return ECONNRESET;
    case ERR_CLSD:
        return EPIPE;
    default:
        return EIO;
    }
}

int ns_tcp_errno(err_t err, int connecting)
{
    switch (err) {
    case ERR_RST:
        /* A reset answering our SYN is a refusal. */
        return connecting ? ECONNREFUSED : ECONNRESET;
    case ERR_ABRT:
        /* lwIP aborts a connection when retransmissions, SYN retries or keepalive probes run
         * out (our own tcp_abort calls never reach the callback). */
        return ETIMEDOUT;
    case ERR_CLSD:
        return 0; /* both directions closed normally */
    default:
        return ns_errno(err);
    }
}
