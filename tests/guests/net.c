/* net.c: test guest: drives hv's virtio-mmio network card itself.  mode=echo (default): ARP and
 * DHCP with the user network's router, then a TCP echo server on port=N for a host port forward;
 * mode=connect: the same, then a TCP client to dst=ADDR dport=N (a guestfwd); mode=arp: one ARP
 * exchange with gw=ADDR from ip=ADDR (a TAP's host side); mode=hostile: n=N malformed queues,
 * then proof that the card works again. */
#include "netframe.h"
#include "vnet_drv.h"

static struct vnet nic;
static uint8_t frame[BUF_SZ], out[BUF_SZ];
static uint32_t my_ip = 0x0a00020f, gw_ip = 0x0a000202; /* 10.0.2.15, 10.0.2.2 */
static uint8_t gw_mac[6];

static void ip_str(uint32_t a, char *buf)
{
    rt_snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static uint32_t parse_ip(const char *key, uint32_t dflt)
{
    size_t len;
    const char *s = rt_cmdline_get(key, &len);
    if (!s)
        return dflt;
    uint32_t a = 0, part = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            a = a << 8 | (part & 255), part = 0;
        } else {
            part = part * 10 + (uint32_t)(s[i] - '0');
        }
    }
    return a;
}

/* Ethernet header into out; returns where the payload goes. */
static uint8_t *eth(const uint8_t *dst, uint16_t type)
{
    return nf_eth(out, dst, nic.mac, type);
}

static void send_arp(uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    static const uint8_t bcast[6] = {255, 255, 255, 255, 255, 255};
    nf_arp(eth(op == 1 ? bcast : tha, NF_ETH_ARP), op, nic.mac, my_ip, op == 1 ? NULL : tha, tpa);
    vnet_tx(&nic, out, NF_ETH_HLEN + NF_ARP_LEN);
}

/* IPv4 header for a payload of len bytes; returns where the payload goes. */
static uint8_t *ip(const uint8_t *dst_mac, uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
    return nf_ipv4(eth(dst_mac, NF_ETH_IPV4), src, dst, proto, len, 0);
}

/* Answers ARP requests for my address; true if the frame was ARP. */
static int handle_arp(const uint8_t *f, size_t len)
{
    if (len < 42 || nf_get16(f + 12) != 0x0806)
        return 0;
    const uint8_t *a = f + 14;
    if (nf_get16(a + 6) == 1 && nf_get32(a + 24) == my_ip)
        send_arp(2, a + 8, nf_get32(a + 14));
    if (nf_get16(a + 6) == 2 && nf_get32(a + 14) == gw_ip)
        memcpy(gw_mac, a + 8, 6);
    return 1;
}

static int arp_gateway(void)
{
    char g[16];
    ip_str(gw_ip, g);
    size_t len;
    const char *t = rt_cmdline_get("tries", &len);
    uint64_t tries = t ? rt_parse_u64(t, len) : 5;
    for (uint64_t i = 0; i < tries; i++) {
        send_arp(1, NULL, gw_ip);
        uint64_t deadline = rt_monotonic_ns() + 500000000ull;
        size_t n;
        while ((n = vnet_rx(&nic, frame, sizeof frame, deadline))) {
            handle_arp(frame, n);
            if (gw_mac[0] | gw_mac[1] | gw_mac[2] | gw_mac[3] | gw_mac[4] | gw_mac[5]) {
                rt_printf("net: arp reply from %s is %02x:%02x:%02x:%02x:%02x:%02x\n", g, gw_mac[0],
                          gw_mac[1], gw_mac[2], gw_mac[3], gw_mac[4], gw_mac[5]);
                return 0;
            }
        }
    }
    rt_printf("net: FAIL no arp reply from %s\n", g);
    return -1;
}

/* DHCPDISCOVER, and the offer's address. */
static int dhcp(void)
{
    static const uint8_t bcast[6] = {255, 255, 255, 255, 255, 255};
    for (int tries = 0; tries < 5; tries++) {
        uint8_t *u = ip(bcast, 0, 0xffffffff, 17, 8 + 240 + 4);
        uint8_t *b = u + 8;
        memset(u, 0, 8 + 240 + 4);
        nf_put16(u, 68), nf_put16(u + 2, 67), nf_put16(u + 4, 8 + 240 + 4); /* checksum 0: none */
        b[0] = 1, b[1] = 1, b[2] = 6, nf_put32(b + 4, 0x5649474c);          /* xid "VIGL" */
        memcpy(b + 28, nic.mac, 6);
        nf_put32(b + 236, 0x63825363);                     /* magic cookie */
        b[240] = 53, b[241] = 1, b[242] = 1, b[243] = 255; /* DISCOVER, end */
        vnet_tx(&nic, out, 14 + 20 + 8 + 240 + 4);
        uint64_t deadline = rt_monotonic_ns() + 500000000ull;
        size_t n;
        while ((n = vnet_rx(&nic, frame, sizeof frame, deadline))) {
            if (handle_arp(frame, n) || n < 14 + 20 + 8 + 240 || nf_get16(frame + 12) != 0x0800 ||
                frame[14 + 9] != 17 || nf_get16(frame + 14 + 20 + 2) != 68)
                continue;
            const uint8_t *r = frame + 14 + 20 + 8;
            if (r[0] != 2 || nf_get32(r + 4) != 0x5649474c)
                continue;
            char a[16];
            ip_str(nf_get32(r + 16), a);
            rt_printf("net: dhcp offer %s\n", a);
            my_ip = nf_get32(r + 16);
            return 0;
        }
    }
    rt_printf("net: FAIL no dhcp offer\n");
    return -1;
}

/* One TCP connection at a time: enough to answer a host port forward. */
struct tcb {
    int open, client, done;
    uint32_t peer;
    uint16_t peer_port, port;
    uint32_t snd_nxt, rcv_nxt;
    uint8_t peer_mac[6];
};
static struct tcb tcb;

static void tcp_send(uint8_t flags, const void *data, size_t len)
{
    uint8_t *t = ip(tcb.peer_mac, my_ip, tcb.peer, 6, 20 + len);
    memset(t, 0, 20);
    nf_put16(t, tcb.port), nf_put16(t + 2, tcb.peer_port);
    nf_put32(t + 4, tcb.snd_nxt), nf_put32(t + 8, tcb.rcv_nxt);
    t[12] = 5 << 4, t[13] = flags, nf_put16(t + 14, 8192);
    memcpy(t + 20, data, len);
    nf_put16(t + 16, nf_l4_sum(t - NF_IP_HLEN, t, 20 + len));
    vnet_tx(&nic, out, 14 + 20 + 20 + len);
    tcb.snd_nxt += (uint32_t)len + ((flags & 0x03) ? 1 : 0); /* SYN, FIN count one */
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* The client's side of a connection it opened (mode=connect). */
static void client_segment(const uint8_t *t, size_t off, size_t dlen, uint8_t flags, uint32_t seq)
{
    if (flags & TCP_RST) {
        rt_printf("net: tcp connection refused (RST)\n");
        tcb.open = 0, tcb.done = 1;
        return;
    }
    if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && !tcb.open) {
        tcb.open = 1;
        tcb.rcv_nxt = seq + 1;
        tcp_send(TCP_ACK | TCP_PSH, "ping from the service VM\n", 25);
        return;
    }
    if (!tcb.open || seq != tcb.rcv_nxt)
        return;
    if (dlen) {
        static char text[128];
        size_t k = dlen < sizeof text - 1 ? dlen : sizeof text - 1;
        memcpy(text, t + off, k);
        text[k] = 0;
        tcb.rcv_nxt += (uint32_t)dlen;
        rt_printf("net: tcp reply: %s\n", text);
        tcp_send(TCP_ACK, NULL, 0);
    }
    if (flags & TCP_FIN) {
        tcb.rcv_nxt++;
        tcp_send(TCP_ACK | TCP_FIN, NULL, 0);
        tcb.open = 0, tcb.done = 1;
        rt_printf("net: tcp closed by the peer\n");
    }
}

static void handle_tcp(const uint8_t *f, size_t n, uint16_t port)
{
    if (n < 14 + 20 + 20 || nf_get16(f + 12) != 0x0800 || f[14 + 9] != 6 ||
        nf_get32(f + 14 + 16) != my_ip)
        return;
    size_t ihl = (size_t)(f[14] & 15) * 4, iplen = nf_get16(f + 16);
    const uint8_t *t = f + 14 + ihl;
    size_t off = (size_t)(t[12] >> 4) * 4;
    if (nf_get16(t + 2) != port || 14 + iplen > n || ihl + off > iplen)
        return;
    size_t dlen = iplen - ihl - off;
    uint8_t flags = t[13];
    uint32_t seq = nf_get32(t + 4);
    if (tcb.client) {
        client_segment(t, off, dlen, flags, seq);
        return;
    }
    if (flags & TCP_SYN) {
        char a[16];
        tcb =
            (struct tcb){1, 0, 0, nf_get32(f + 14 + 12), nf_get16(t), port, 0x10000, seq + 1, {0}};
        memcpy(tcb.peer_mac, f + 6, 6);
        ip_str(tcb.peer, a);
        rt_printf("net: tcp SYN from %s:%u to port %u\n", a, tcb.peer_port, port);
        tcp_send(TCP_SYN | TCP_ACK, NULL, 0);
        return;
    }
    if (!tcb.open || nf_get16(t) != tcb.peer_port || seq != tcb.rcv_nxt)
        return;
    if (dlen) {
        static char reply[256];
        size_t k = dlen < 200 ? dlen : 200;
        memcpy(reply, "echo: ", 6);
        memcpy(reply + 6, t + off, k);
        tcb.rcv_nxt += (uint32_t)dlen;
        rt_printf("net: tcp got %u bytes\n", (unsigned)dlen);
        tcp_send(TCP_ACK | TCP_PSH, reply, 6 + k);
        tcp_send(TCP_ACK | TCP_FIN, NULL, 0);
    }
    if (flags & TCP_FIN) {
        tcb.rcv_nxt++;
        tcp_send(TCP_ACK, NULL, 0);
        tcb.open = 0;
        rt_printf("net: tcp closed\n");
    }
}

/* Opens a connection to dst:dport through the gateway, sends a line, prints the reply. */
static void tcp_connect(uint32_t dst, uint16_t dport)
{
    char a[16];
    ip_str(dst, a);
    tcb = (struct tcb){0, 1, 0, dst, dport, 40000, 0x20000, 0, {0}};
    memcpy(tcb.peer_mac, gw_mac, 6);
    rt_printf("net: tcp connecting to %s:%u\n", a, dport);
    tcp_send(TCP_SYN, NULL, 0);
    uint64_t deadline = rt_monotonic_ns() + 5000000000ull;
    while (!tcb.done && rt_monotonic_ns() < deadline) {
        size_t n = vnet_rx(&nic, frame, sizeof frame, deadline);
        if (n && !handle_arp(frame, n))
            handle_tcp(frame, n, 40000);
    }
    if (!tcb.done)
        rt_printf("net: tcp no answer from %s:%u\n", a, dport);
}

static void echo_server(uint16_t port)
{
    rt_printf("net: echo server on port %u\n", port);
    for (uint64_t beat = 0;; beat++) {
        size_t n = vnet_rx(&nic, frame, sizeof frame, rt_monotonic_ns() + 100000000ull);
        if (n && !handle_arp(frame, n))
            handle_tcp(frame, n, port);
        rt_heartbeat(beat);
    }
}

/* A broken layout of one of four kinds; the device must refuse it and say why. */
static void break_queue(unsigned kind)
{
    struct vq *q = &nic.q[1];
    uint64_t ram = rt_boot->mem_size;
    vq_init(q);
    if (vnet_negotiate(&nic) < 0 || vq_setup(&nic, 0, &nic.q[0], (uintptr_t)nic.q[0].desc) < 0)
        return;
    if (kind == 3) { /* descriptor table outside RAM: refused at QueueReady */
        vq_setup(&nic, 1, q, ram - 64);
        return;
    }
    if (vq_setup(&nic, 1, q, (uintptr_t)q->desc) < 0)
        return;
    vmmio_driver_ok(nic.regs);
    if (kind == 0) /* a buffer past the end of RAM */
        q->desc[0] = (struct vring_desc){ram - 16, 4096, 0, 0};
    else if (kind == 1) /* a chain that loops */
        q->desc[0] = (struct vring_desc){(uintptr_t)q->buf[0], 64, VRING_DESC_F_NEXT, 0};
    else /* the avail index runs ahead by more than the queue */
        q->r.avail->idx = VQ_N * 3;
    if (kind != 2)
        vq_post(q, 0);
    vmmio_wr(nic.regs, VM_QUEUE_NOTIFY, 1);
}

static int hostile(uint64_t rounds)
{
    uint64_t refused = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        break_queue((unsigned)(i % 4));
        uint64_t deadline = rt_monotonic_ns() + 1000000000ull;
        while (!(vmmio_rd(nic.regs, VM_STATUS) & VS_NEEDS_RESET) && rt_monotonic_ns() < deadline)
            rt_wait(rt_monotonic_ns() + 1000000, VIGIL_EV_DEVICE);
        refused += (vmmio_rd(nic.regs, VM_STATUS) & VS_NEEDS_RESET) != 0;
    }
    rt_printf("net: %lu of %lu malformed queues refused with NEEDS_RESET\n", refused, rounds);
    if (vnet_up(&nic) < 0 || arp_gateway() < 0)
        return 1;
    rt_printf("net: recovered after the flood\n");
    return refused == rounds ? 0 : 1;
}

int guest_main(const struct vigil_boot_info *bi)
{
    const struct vigil_boot_device *d = vmmio_find(bi, 1);
    if (!d) {
        rt_printf("net: no network card in the boot info\n");
        return 2;
    }
    nic.regs = (volatile uint32_t *)(uintptr_t)d->base;
    if (!vmmio_is(nic.regs, 1)) {
        rt_printf("net: FAIL not a virtio-mmio v2 network card at 0x%lx\n", d->base);
        return 1;
    }
    my_ip = parse_ip("ip", my_ip);
    gw_ip = parse_ip("gw", gw_ip);
    if (vnet_up(&nic) < 0) {
        rt_printf("net: FAIL the card did not come up (status 0x%x)\n",
                  vmmio_rd(nic.regs, VM_STATUS));
        return 1;
    }
    rt_printf("net: card at 0x%lx irq %u mac %02x:%02x:%02x:%02x:%02x:%02x up\n", d->base, d->irq,
              nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5]);
    size_t len, mlen = 0;
    const char *mode = rt_cmdline_get("mode", &mlen);
    if (mode && mlen == 7 && !strncmp(mode, "hostile", 7)) {
        const char *n = rt_cmdline_get("n", &len);
        if (hostile(n ? rt_parse_u64(n, len) : 100))
            return 1;
        for (uint64_t beat = 0;; beat++) { /* stay up: a halt would restart the service VM */
            rt_heartbeat(beat);
            rt_wait(rt_monotonic_ns() + 100000000ull, VIGIL_EV_CONSOLE_IN);
        }
    }
    if (arp_gateway() < 0)
        return 1;
    if (mode && mlen == 3 && !strncmp(mode, "arp", 3)) {
        rt_printf("net: arp done\n");
        for (;;)
            rt_wait(UINT64_MAX, VIGIL_EV_CONSOLE_IN);
    }
    if (dhcp() < 0)
        return 1;
    const char *p = rt_cmdline_get("port", &len);
    if (mode && mlen == 7 && !strncmp(mode, "connect", 7)) {
        const char *dp = rt_cmdline_get("dport", &len);
        tcp_connect(parse_ip("dst", gw_ip), dp ? (uint16_t)rt_parse_u64(dp, len) : 443);
        rt_printf("net: connect done\n");
        for (;;)
            rt_wait(UINT64_MAX, VIGIL_EV_CONSOLE_IN);
    }
    echo_server(p ? (uint16_t)rt_parse_u64(p, len) : 7);
    return 0;
}
