/* lwip_main.c: self-check: lwIP core built with svcos-cc initialises and listens natively. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

u32_t sys_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (u32_t)(ts.tv_sec * 1000u + ts.tv_nsec / 1000000);
}

int main(void)
{
    lwip_init();
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
    if (!pcb || tcp_bind(pcb, IP_ANY_TYPE, 8443) != ERR_OK) {
        fprintf(stderr, "lwip: FAIL: tcp_new/tcp_bind\n");
        return 1;
    }
    struct tcp_pcb *lpcb = tcp_listen(pcb);
    if (!lpcb) {
        fprintf(stderr, "lwip: FAIL: tcp_listen\n");
        return 1;
    }
    sys_check_timeouts();
    tcp_close(lpcb);
    printf("lwip: %s ok\n", LWIP_VERSION_STRING);
    return 0;
}
