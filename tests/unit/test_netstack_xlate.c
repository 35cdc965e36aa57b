/* test_netstack_xlate.c: the netstack's Linux <-> lwIP translations: err_t to errno, and which
 * socket options exist (with their value formats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* lwIP's options first: glibc's <netinet/tcp.h> has a TCP_MSS of its own. */
#include "xlate.h"

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

static void test_errno(void **state)
{
    (void)state;
    static const struct {
        err_t err;
        int want;
    } map[] = {
        {ERR_OK, 0},
        {ERR_MEM, ENOBUFS},
        {ERR_BUF, ENOBUFS},
        {ERR_TIMEOUT, ETIMEDOUT},
        {ERR_RTE, ENETUNREACH},
        {ERR_INPROGRESS, EINPROGRESS},
        {ERR_VAL, EINVAL},
        {ERR_WOULDBLOCK, EAGAIN},
        {ERR_USE, EADDRINUSE},
        {ERR_ALREADY, EALREADY},
        {ERR_ISCONN, EISCONN},
        {ERR_CONN, ENOTCONN},
        {ERR_IF, ENETDOWN},
        {ERR_ABRT, ECONNABORTED},
        {ERR_RST, ECONNRESET},
        {ERR_CLSD, EPIPE},
        {ERR_ARG, EINVAL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        assert_int_equal(ns_errno(map[i].err), map[i].want);
    /* Whatever lwIP adds later is an I/O error, never its own number. */
    assert_int_equal(ns_errno(-100), EIO);
    assert_int_equal(ns_errno(5), EIO);
}

static void test_tcp_errno(void **state)
{
    (void)state;
    assert_int_equal(ns_tcp_errno(ERR_RST, 1), ECONNREFUSED); /* a reset answering our SYN */
    assert_int_equal(ns_tcp_errno(ERR_RST, 0), ECONNRESET);
    assert_int_equal(ns_tcp_errno(ERR_ABRT, 0), ETIMEDOUT); /* retransmissions or keepalive */
    assert_int_equal(ns_tcp_errno(ERR_ABRT, 1), ETIMEDOUT);
    assert_int_equal(ns_tcp_errno(ERR_CLSD, 0), 0); /* a close both ways finished */
    assert_int_equal(ns_tcp_errno(ERR_MEM, 0), ENOBUFS);
}

static void test_option_lookup(void **state)
{
    (void)state;
    assert_int_equal(ns_opt_lookup(SOL_SOCKET, SO_ERROR, SOCK_STREAM, AF_INET), NSO_ERROR);
    assert_int_equal(ns_opt_lookup(SOL_SOCKET, SO_REUSEADDR, SOCK_DGRAM, AF_INET6), NSO_REUSEADDR);
    assert_int_equal(ns_opt_lookup(IPPROTO_TCP, TCP_NODELAY, SOCK_STREAM, AF_INET),
                     NSO_TCP_NODELAY);
    assert_int_equal(ns_opt_lookup(IPPROTO_TCP, TCP_KEEPIDLE, SOCK_STREAM, AF_INET6),
                     NSO_TCP_KEEPIDLE);
    assert_int_equal(ns_opt_lookup(SOL_SOCKET, 66, SOCK_STREAM, AF_INET), NSO_RCVTIMEO);
    assert_int_equal(ns_opt_lookup(IPPROTO_IP, IP_TOS, SOCK_STREAM, AF_INET6), NSO_IP_TOS);
    /* TCP options on UDP, IPv6 options on IPv4: Linux says ENOPROTOOPT. */
    assert_int_equal(ns_opt_lookup(IPPROTO_TCP, TCP_NODELAY, SOCK_DGRAM, AF_INET), -ENOPROTOOPT);
    assert_int_equal(ns_opt_lookup(IPPROTO_IPV6, IPV6_V6ONLY, SOCK_STREAM, AF_INET), -ENOPROTOOPT);
    assert_int_equal(ns_opt_lookup(IPPROTO_IPV6, IPV6_V6ONLY, SOCK_DGRAM, AF_INET6),
                     NSO_IPV6_V6ONLY);
    /* What lwIP cannot do. */
    static const int unsupported[][2] = {
        {SOL_SOCKET, SO_REUSEPORT},
        {SOL_SOCKET, SO_BINDTODEVICE},
        {SOL_SOCKET, SO_PRIORITY},
        {SOL_SOCKET, SO_RCVLOWAT},
        {SOL_SOCKET, SO_OOBINLINE},
        {SOL_SOCKET, SO_PEERCRED},
        {IPPROTO_TCP, TCP_CORK},
        {IPPROTO_TCP, TCP_INFO},
        {IPPROTO_TCP, TCP_QUICKACK},
        {IPPROTO_TCP, TCP_USER_TIMEOUT},
        {IPPROTO_TCP, TCP_CONGESTION},
        {IPPROTO_IP, IP_MULTICAST_TTL},
        {IPPROTO_IP, IP_ADD_MEMBERSHIP},
        {IPPROTO_IP, IP_PKTINFO},
        {IPPROTO_IP, IP_RECVERR},
        {SOL_RAW, 1},
        {12345, 1},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        assert_int_equal(ns_opt_lookup(unsupported[i][0], unsupported[i][1], SOCK_STREAM, AF_INET),
                         -ENOPROTOOPT);
        assert_int_equal(ns_opt_lookup(unsupported[i][0], unsupported[i][1], SOCK_DGRAM, AF_INET6),
                         -ENOPROTOOPT);
    }
    assert_true(ns_opt_readonly(NSO_ERROR));
    assert_true(ns_opt_readonly(NSO_ACCEPTCONN));
    assert_false(ns_opt_readonly(NSO_TCP_NODELAY));
}

static void test_values(void **state)
{
    (void)state;
    int v = 0, one = 1;
    assert_int_equal(ns_opt_get_int(&one, sizeof one, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ns_opt_get_int(&one, 2, &v), -EINVAL);
    assert_int_equal(ns_opt_get_int(NULL, 4, &v), -EINVAL);
    unsigned char out[8] = {0};
    unsigned len = sizeof out;
    ns_opt_put_int(out, &len, 0x01020304);
    assert_int_equal(len, sizeof(int));
    len = 1; /* Linux truncates a short buffer */
    memset(out, 0, sizeof out);
    ns_opt_put_int(out, &len, 0x01020304);
    assert_int_equal(len, 1);
    assert_int_equal(out[0], 0x04);
    assert_int_equal(out[1], 0);

    uint64_t ns = 99;
    struct timeval tv = {1, 500000};
    assert_int_equal(ns_opt_get_timeval(&tv, sizeof tv, &ns), 0);
    assert_int_equal(ns, 1500000000ull);
    tv = (struct timeval){0, 0};
    assert_int_equal(ns_opt_get_timeval(&tv, sizeof tv, &ns), 0);
    assert_int_equal(ns, 0); /* forever */
    tv = (struct timeval){-1, 0};
    assert_int_equal(ns_opt_get_timeval(&tv, sizeof tv, &ns), 0);
    assert_int_equal(ns, 1); /* negative: do not wait */
    tv = (struct timeval){0, 1000000};
    assert_int_equal(ns_opt_get_timeval(&tv, sizeof tv, &ns), -EDOM);
    assert_int_equal(ns_opt_get_timeval(&tv, sizeof tv - 1, &ns), -EINVAL);
    struct timeval back;
    len = sizeof back;
    ns_opt_put_timeval(&back, &len, 2250000000ull);
    assert_int_equal(len, sizeof back);
    assert_int_equal(back.tv_sec, 2);
    assert_int_equal(back.tv_usec, 250000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno),
        cmocka_unit_test(test_tcp_errno),
        cmocka_unit_test(test_option_lookup),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
