# netstack.mk: make fragment for the netstack: `make netstack` builds build/netstack/liblwip.a (lwIP) and libnetstack.a (svcos's sockets over it).
#
# Include it after svcos/sysroot.mk and before svcos/svcos.mk.  A program for the service VM
# gets TCP/IP by linking $(NETSTACK_LINK) after $(SVCOS_LINK) (svcos then calls
# netstack_init at boot); without it socket(AF_INET, ...) fails with EAFNOSUPPORT.
# The unit tests named tests/unit/test_netstack_*.c link the netstack's pure parts, built
# natively.

netstack_saved_default_goal := $(.DEFAULT_GOAL)

NETSTACK_BUILD  := build/netstack
NETSTACK_SRCS   := $(wildcard netstack/*.c)
NETSTACK_OBJS   := $(NETSTACK_SRCS:netstack/%.c=$(NETSTACK_BUILD)/obj/%.o)
NETSTACK_LIBS   := $(NETSTACK_BUILD)/libnetstack.a $(NETSTACK_BUILD)/liblwip.a
NETSTACK_INC     = -Inetstack -Inetstack/include -I$(SVCOS_LWIPDIR)/include
# Same rules as svcos (it is svcos's network half): no stack protector, svcos's warnings.
# guests/rt: the virtio-mmio driver core shared with the test guests (virtio_mmio_drv.h).
NETSTACK_CFLAGS  = -std=c11 -D_GNU_SOURCE $(SVCOS_WARN) -O2 -g -fno-stack-protector -Iinclude -Isvcos \
                   $(NETSTACK_INC) -Iguests/rt -MMD -MP
# A group: lwIP calls back into the glue (sys_now, the heap, the ISN hook).
NETSTACK_LINK    = -Wl,--undefined=netstack_init -Wl,--start-group $(NETSTACK_LIBS) -Wl,--end-group
NETSTACK_STAMP  := build/svcos/sysroot.id

.PHONY: netstack FORCE
netstack: $(NETSTACK_LIBS)

# lwIP's file list exists only once the sysroot does: a sub-make reads it (and keeps
# liblwip.a's timestamp when nothing changed).
$(NETSTACK_BUILD)/liblwip.a: $(NETSTACK_STAMP) netstack/lwip.mk FORCE
	@$(MAKE) --no-print-directory -f netstack/lwip.mk LWIPDIR=$(SVCOS_LWIPDIR) SVCOS_CC=$(SVCOS_CC) \
	    SVCOS_PREFIX=$(SVCOS_PREFIX) OUT=$(NETSTACK_BUILD) STAMP=$(NETSTACK_STAMP)

$(NETSTACK_BUILD)/obj/%.o: netstack/%.c $(NETSTACK_STAMP)
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(NETSTACK_CFLAGS) -c $< -o $@

$(NETSTACK_BUILD)/libnetstack.a: $(NETSTACK_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Native builds of the pure logic (command-line parsing, constant translation) for cmocka.
NETSTACK_HOST_SRCS := netstack/config.c netstack/errmap.c netstack/sockopt.c netstack/chksum.c
NETSTACK_HOST_OBJS := $(NETSTACK_HOST_SRCS:%.c=$(O)/obj/%.o)
$(O)/obj/netstack/%.o: netstack/%.c | sysroot
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(NETSTACK_INC) -c $< -o $@
$(O)/obj/tests/unit/test_netstack_%.o: tests/unit/test_netstack_%.c | sysroot
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(NETSTACK_INC) -c $< -o $@
$(O)/tests/test_netstack_%: $(O)/obj/tests/unit/test_netstack_%.o $(NETSTACK_HOST_OBJS) $(O)/libhv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ -lcmocka $(HOST_LDLIBS)

-include $(shell find $(NETSTACK_BUILD)/obj -name '*.d' 2>/dev/null)

.DEFAULT_GOAL := $(netstack_saved_default_goal)
