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
# Our fixes (netstack/lwip-patches/*.patch, each naming its file as a/src/<path>): those files
# are copied to $(OUT)/lwip-src with LF line endings, patched, and compiled from there.
LWIP_PATCHES := $(sort $(wildcard netstack/lwip-patches/*.patch))
LWIP_PATCHED := $(sort $(foreach p,$(LWIP_PATCHES),$(shell sed -n 's|^+++ b/src/||p' $(p))))
# No stack protector: lwIP runs inside svcos's system calls, where TLS may not exist yet.
LWIP_CFLAGS := -std=c11 -O2 -g -fno-stack-protector -Wall -Werror -Inetstack -I$(LWIPDIR)/include -MMD -MP

$(OUT)/liblwip.a: $(LWIP_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/lwip/%.o: $(LWIPDIR)/%.c $(STAMP)
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(LWIP_CFLAGS) -c $< -o $@

$(OUT)/lwip-src/%.c: $(LWIPDIR)/%.c $(LWIP_PATCHES) $(STAMP)
	@mkdir -p $(@D)
	tr -d '\r' <$< >$@.tmp
	for p in $(LWIP_PATCHES); do \
	    if grep -qx '+++ b/src/$*.c' $$p; then patch --quiet --fuzz=0 $@.tmp <$$p || exit 1; fi; \
	done
	mv $@.tmp $@

# Patched files: the same object path, built from the patched copy.
$(foreach f,$(LWIP_PATCHED),$(eval $(OUT)/lwip/$(f:.c=.o): $(OUT)/lwip-src/$(f) $(STAMP) ; \
    @mkdir -p $$(@D); SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(LWIP_CFLAGS) -c $$< -o $$@))

-include $(LWIP_OBJS:.o=.d)
