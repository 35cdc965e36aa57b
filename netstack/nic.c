/* nic.c: polled network interfaces: a driver's transmit/poll operations as an lwIP Ethernet
 * netif, configured statically or by DHCP, with IPv6 link-local and SLAAC addresses. */
#include "ns.h"

#include "config.h"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"
#include "netstack.h"
#include <string.h>
#include <sys/utsname.h>

struct netstack_nic {
    struct netif netif;
    struct netstack_nic_info info;
    struct net_config cfg;
    unsigned char *txbuf; /* for frames lwIP hands over as a chain */
    uint32_t logged;      /* the DHCP address last reported (the callback fires per field) */
    struct netstack_nic *next;
};

static struct netstack_nic *nics;
static char hostname[65];

/* ip= on the command line: applied to the first interface that has no config of its own. */
static struct net_config cmdline_cfg;
static int cmdline_ok;

static err_t linkoutput(struct netif *netif, struct pbuf *p)
{
    struct netstack_nic *nic = netif->state;
    if (p->tot_len > nic->info.mtu + SIZEOF_ETH_HDR) {
        LINK_STATS_INC(link.lenerr);
        return ERR_BUF;
    }
    const void *frame = p->payload;
    if (p->len != p->tot_len) {
        pbuf_copy_partial(p, nic->txbuf, p->tot_len, 0);
        frame = nic->txbuf;
    }
    if (nic->info.ops->transmit(nic->info.drv, frame, p->tot_len) < 0) {
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    LINK_STATS_INC(link.xmit);
    return ERR_OK;
}

static err_t netif_setup(struct netif *netif)
{
    struct netstack_nic *nic = netif->state;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, nic->info.mac, ETH_HWADDR_LEN);
    netif->mtu = nic->info.mtu;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->output_ip6 = ethip6_output;
    netif->linkoutput = linkoutput;
    netif_set_hostname(netif, hostname);
    if (nic->info.rx_csum_ok)
        NETIF_SET_CHECKSUM_CTRL(netif, NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_UDP |
                                           NETIF_CHECKSUM_GEN_TCP | NETIF_CHECKSUM_GEN_ICMP |
                                           NETIF_CHECKSUM_GEN_ICMP6);
    return ERR_OK;
}

static int prefix_of(uint32_t mask_be)
{
    return __builtin_popcount(mask_be);
}

/* A DHCP lease (or its loss) changed the address: say so, and refresh /etc/resolv.conf. */
static void on_status(struct netif *netif)
{
    struct netstack_nic *nic = netif->state;
    char a[16], g[16];
    uint32_t addr = ip4_addr_get_u32(netif_ip4_addr(netif));
    if (nic->cfg.mode == NETCFG_DHCP && addr && addr != nic->logged) {
        nic->logged = addr;
        klog("netstack: %c%c%u %s/%d gw %s (dhcp)", netif->name[0], netif->name[1], netif->num,
             netcfg_ntoa(ip4_addr_get_u32(netif_ip4_addr(netif)), a),
             prefix_of(ip4_addr_get_u32(netif_ip4_netmask(netif))),
             netcfg_ntoa(ip4_addr_get_u32(netif_ip4_gw(netif)), g));
        if (cmdline_ok && cmdline_cfg.ndns)
            resolv_set_servers(cmdline_cfg.dns, cmdline_cfg.ndns); /* dns= wins over DHCP */
        resolv_update();
    }
}

static void set_hostname(void)
{
    struct utsname u;
    if (!hostname[0] && sys_uname(&u) == 0)
        memcpy(hostname, u.nodename, strnlen(u.nodename, sizeof hostname - 1));
}

void nic_cmdline_config(void)
{
    size_t il = 0, gl = 0, dl = 0;
    const char *ip = svcos_cmdline_get("ip", &il), *gw = svcos_cmdline_get("gw", &gl),
               *dns = svcos_cmdline_get("dns", &dl);
    char err[128];
    cmdline_ok = netcfg_parse(&cmdline_cfg, ip, il, gw, gl, dns, dl, err, sizeof err) == 0;
    if (!cmdline_ok)
        klog("netstack: %s: network interfaces stay unconfigured", err);
    else if (cmdline_cfg.ndns)
        resolv_set_servers(cmdline_cfg.dns, cmdline_cfg.ndns);
}

struct netstack_nic *netstack_add_nic(const struct netstack_nic_info *info, const char *config)
{
    struct netstack_nic *nic = kzalloc(sizeof *nic);
    if (!nic)
        return NULL;
    nic->info = *info;
    if (!nic->info.mtu)
        nic->info.mtu = 1500;
    char err[128];
    if (config && netcfg_from_words(&nic->cfg, config, err, sizeof err) < 0) {
        klog("netstack: interface not added: %s", err);
        kfree(nic);
        return NULL;
    }
    if (!config)
        nic->cfg = cmdline_cfg; /* NETCFG_OFF when ip= was invalid */
    nic->txbuf = kmalloc(nic->info.mtu + SIZEOF_ETH_HDR);
    if (!nic->txbuf) {
        kfree(nic);
        return NULL;
    }
    set_hostname();
    ip4_addr_t a, m, g;
    ip4_addr_set_u32(&a, nic->cfg.mode == NETCFG_STATIC ? nic->cfg.addr : 0);
    ip4_addr_set_u32(&m, nic->cfg.mode == NETCFG_STATIC ? nic->cfg.netmask : 0);
    ip4_addr_set_u32(&g, nic->cfg.mode == NETCFG_STATIC ? nic->cfg.gw : 0);
    if (!netif_add(&nic->netif, &a, &m, &g, nic, netif_setup, ethernet_input)) {
        kfree(nic->txbuf);
        kfree(nic);
        return NULL;
    }
    if (!nics)
        netif_set_default(&nic->netif);
    nic->next = nics;
    nics = nic;
    if (config && nic->cfg.ndns) {
        resolv_set_servers(nic->cfg.dns, nic->cfg.ndns);
        resolv_update();
    }
    netif_create_ip6_linklocal_address(&nic->netif, 1);
    netif_set_ip6_autoconfig_enabled(&nic->netif, 1);
    netif_set_status_callback(&nic->netif, on_status);
    netif_set_up(&nic->netif);
    netif_set_link_up(&nic->netif);
    if (nic->cfg.mode == NETCFG_DHCP)
        dhcp_start(&nic->netif);
    netstack_wake_on(info->hv_events);
    return nic;
}

void netstack_nic_input(struct netstack_nic *nic, const void *frame, size_t len)
{
    if (len < SIZEOF_ETH_HDR || len > 0xffff) {
        LINK_STATS_INC(link.lenerr);
        return;
    }
    /* A heap pbuf, not the fixed pool: received data waits in sockets until read. */
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
    if (!p) {
        LINK_STATS_INC(link.memerr);
        LINK_STATS_INC(link.drop);
        return;
    }
    memcpy(p->payload, frame, len);
    LINK_STATS_INC(link.recv);
    if (nic->netif.input(p, &nic->netif) != ERR_OK)
        pbuf_free(p);
}

void netstack_nic_link(struct netstack_nic *nic, int up)
{
    if (up)
        netif_set_link_up(&nic->netif);
    else
        netif_set_link_down(&nic->netif);
}

void netstack_nic_ipv4(struct netstack_nic *nic, uint32_t *addr, int *prefix)
{
    *addr = ip4_addr_get_u32(netif_ip4_addr(&nic->netif));
    *prefix = prefix_of(ip4_addr_get_u32(netif_ip4_netmask(&nic->netif)));
}

void nic_flush_all(void)
{
    for (struct netstack_nic *nic = nics; nic; nic = nic->next)
        if (nic->info.ops->flush)
            nic->info.ops->flush(nic->info.drv);
}

int nic_poll_all(void)
{
    int n = 0;
    for (struct netstack_nic *nic = nics; nic; nic = nic->next)
        if (nic->info.ops->poll)
            n += nic->info.ops->poll(nic->info.drv, nic, 64);
    return n;
}
