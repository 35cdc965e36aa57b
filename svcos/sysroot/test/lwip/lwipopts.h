/* lwipopts.h: self-check only: NO_SYS=1 lwIP options (the netstack has its own). */
#ifndef SELFCHECK_LWIPOPTS_H
#define SELFCHECK_LWIPOPTS_H

#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET          0
#define LWIP_NETCONN         0
#define LWIP_IPV4            1
#define LWIP_IPV6            1
#define LWIP_ARP             1
#define LWIP_ETHERNET        1
#define LWIP_TCP             1
#define LWIP_UDP             1
#define LWIP_DHCP            1
#define LWIP_DNS             1
#define MEM_LIBC_MALLOC      1
#define MEMP_MEM_MALLOC      1
#define MEM_ALIGNMENT        8
#define LWIP_STATS           0

#endif
