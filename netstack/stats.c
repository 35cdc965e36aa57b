/* stats.c: netstack_get_stats: lwIP's pool and heap counters for leak checks. */
#include "ns.h"

#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "netstack.h"
#include <string.h>

static uint32_t used(memp_t pool)
{
    return lwip_stats.memp[pool] ? (uint32_t)lwip_stats.memp[pool]->used : 0;
}

void netstack_get_stats(struct netstack_stats *st)
{
    memset(st, 0, sizeof *st);
    struct ns_mem_stats m;
    ns_mem_stats(&m);
    st->heap_bytes = m.bytes;
    st->heap_blocks = m.blocks;
    st->heap_peak = m.peak;
    st->heap_limit = m.limit;
    st->heap_failures = m.failures;
    st->pbuf_pool = used(MEMP_PBUF_POOL);
    st->pbuf_ref = used(MEMP_PBUF);
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next)
        st->tcp_timewait++;
    st->tcp_pcbs = used(MEMP_TCP_PCB) - st->tcp_timewait;
    st->tcp_listen = used(MEMP_TCP_PCB_LISTEN);
    st->tcp_segs = used(MEMP_TCP_SEG);
    st->udp_pcbs = used(MEMP_UDP_PCB);
    st->sockets = nsock_count;
    st->tcp_drop = lwip_stats.tcp.drop;
    st->link_drop = lwip_stats.link.drop;
}
