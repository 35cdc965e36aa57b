/* netstack.c: lwIP's bring-up and its place in svcos's event loop: timers, loopback and NIC
 * input run whenever the program waits or retries. */
#include "ns.h"

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"

static unsigned long changes;
static int pumping;

void ns_changed(struct file *f)
{
    file_changed(f);
    changes++;
}

static int loopback_pending(void)
{
    struct netif *n;
    NETIF_FOREACH(n)
    {
        if (n->loop_first)
            return 1;
    }
    return 0;
}

/* lwIP acknowledges every second full segment and leaves the rest to its 250 ms timer.  A
 * sender whose window holds few segments (slirp's is 64 KiB without scaling, four of our large
 * segments) then waits for that timer whenever a burst ends on an odd segment.  So the ACKs
 * still owed are sent when svcos is about to sleep (next_timer, called only then): by then a
 * program that answers a request has answered it, and its reply carries the ACK (sending them
 * straight after the input instead halved the keep-alive request rate: two frames a request). */
static int acks_owed;

static void ack_delayed(void)
{
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
        if (pcb->flags & TF_ACK_DELAY) {
            tcp_ack_now(pcb);
            tcp_output(pcb);
        }
}

int netstack_pump(void)
{
    if (pumping) /* a callback reached back here: the outer pump finishes the work */
        return 0;
    pumping = 1;
    unsigned long before = changes;
    sys_check_timeouts();
    /* Each round can queue more (an ACK answers data): run until quiet, within reason. */
    int input = 0;
    for (int round = 0; round < 256; round++) {
        int work = nic_poll_all();
        input |= work;
        if (loopback_pending()) {
            netif_poll_all();
            work = 1;
        }
        if (!work)
            break;
    }
    acks_owed |= input;
    nic_flush_all();
    pumping = 0;
    return changes != before;
}

static uint64_t next_timer(void)
{
    if (acks_owed) {
        acks_owed = 0;
        ack_delayed();
        nic_flush_all();
    }
    u32_t ms = sys_timeouts_sleeptime();
    if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE)
        return UINT64_MAX;
    return time_mono_ns() + (uint64_t)ms * 1000000ull;
}

static struct loop_source source = {
    .poll = netstack_pump,
    .deadline = next_timer,
};

void netstack_wake_on(uint64_t hv_events)
{
    source.hv_events |= hv_events;
}

static void quiet_loopback(void)
{
    /* Like Linux's lo: no checksums to compute or verify on the loopback interface. */
    struct netif *n;
    NETIF_FOREACH(n)
    {
        if (n->name[0] == 'l' && n->name[1] == 'o')
            NETIF_SET_CHECKSUM_CTRL(n, 0);
    }
}

void netstack_init(void)
{
    ns_mem_init();
    lwip_init(); /* also brings up the loopback interface: 127.0.0.1 and ::1 */
    quiet_loopback();
    loop_add_source(&source);
    inet_register();
    resolv_init();
    nic_cmdline_config();
    vnet_probe(); /* hv's card, configured from the command line (DHCP by default) */
    resolv_update();
}
