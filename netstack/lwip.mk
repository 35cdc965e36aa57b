# lwip.mk: builds lwIP 2.1.3 from the sysroot's sources with netstack's lwipopts.h into $(OUT)/liblwip.a.
#
# A sub-make of netstack/netstack.mk (so that lwIP's Filelists.mk is read only once the
# sysroot exists): make -f netstack/lwip.mk LWIPDIR=... SVCOS_CC=... SVCOS_PREFIX=... \
#     OUT=build/netstack STAMP=build/svcos/sysroot.id
# lwIP is third-party code: it is compiled from the sysroot cache, never copied into the tree.

include $(LWIPDIR)/Filelists.mk

# Core, IPv4, IPv6 and Ethernet; no PPP, no apps, no sequential APIs.
LWIP_SRCS   := $(COREFILES) $(CORE4FILES) $(CORE6FILES) $(LWIPDIR)/netif/ethernet.c
LWIP_OBJS   := $(patsubst $(LWIPDIR)/%.c,$(OUT)/lwip/%.o,$(LWIP_SRCS))
# No stack protector: lwIP runs inside svcos's system calls, where TLS may not exist yet.
LWIP_CFLAGS := -std=c11 -O2 -g -fno-stack-protector -Wall -Werror -Inetstack -I$(LWIPDIR)/include -MMD -MP

$(OUT)/liblwip.a: $(LWIP_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/lwip/%.o: $(LWIPDIR)/%.c $(STAMP)
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(LWIP_CFLAGS) -c $< -o $@

-include $(LWIP_OBJS:.o=.d)
