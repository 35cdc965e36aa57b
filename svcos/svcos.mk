# svcos.mk: make fragment for svcos: `make svcos` builds build/svcos/libsvcos.a, `make svcos-selftest` the self-test image.
#
# Include it after svcos/sysroot.mk (it uses SVCOS_CC, SVCOS_PREFIX and the `sysroot`
# target); it does not change the default goal.  Programs for the service VM link
# with $(SVCOS_LINK) after their objects and before their libraries; the files
# they need go into a cpio archive packed into the image (svcos/mkcpio.py,
# svcos/cpio_embed.S; see the self-test rules below for the pattern).

svcos_saved_default_goal := $(.DEFAULT_GOAL)

SVCOS_BUILD   := build/svcos
SVCOS_SRCS    := $(wildcard svcos/*.c)
SVCOS_OBJS    := $(SVCOS_SRCS:svcos/%.c=$(SVCOS_BUILD)/obj/%.o) $(SVCOS_BUILD)/obj/fault_entry.o
SVCOS_WARN    := -Wall -Wextra -Werror -Wshadow -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes -Wvla \
                 -Wformat=2 -Wno-format-truncation
# svcos runs in musl's system-call path, before TLS exists: no stack protector.
SVCOS_CFLAGS  := -std=c11 -D_GNU_SOURCE $(SVCOS_WARN) -O2 -g -fno-stack-protector -Iinclude -Isvcos -MMD -MP
SVCOS_LINK     = -Wl,--whole-archive $(SVCOS_BUILD)/libsvcos.a -Wl,--no-whole-archive -Wl,-e,svcos_entry \
                 -Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -Wl,--build-id=none
SVCOS_PY      := /usr/bin/python3

SELFTEST_SRCS := $(wildcard svcos/selftest/*.c)
SELFTEST_OBJS := $(SELFTEST_SRCS:svcos/selftest/%.c=$(SVCOS_BUILD)/selftest/%.o)
SELFTEST_CFLAGS := -std=c11 $(SVCOS_WARN) -O2 -g -Isvcos/include -Inetstack/include -Iguests/rt -I$(SVCOS_BUILD)/selftest -MMD -MP
SELFTEST_LIBS := -lssl -lcrypto -lmicrohttpd -ljansson

.PHONY: svcos svcos-selftest svcos-selftest-native svcos-clean
svcos: $(SVCOS_BUILD)/libsvcos.a
svcos-selftest: $(SVCOS_BUILD)/selftest.elf

# Rebuild everything for the service VM when the sysroot changes (its key is in its path).
$(SVCOS_BUILD)/sysroot.id: FORCE | sysroot
	@mkdir -p $(@D)
	@echo '$(SVCOS_PREFIX)' > $@.tmp; if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
FORCE:

$(SVCOS_BUILD)/obj/%.o: svcos/%.c $(SVCOS_BUILD)/sysroot.id
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(SVCOS_CFLAGS) -c $< -o $@

# The exception stubs are the guest runtime's: one copy of the ABI's assembly side.
$(SVCOS_BUILD)/obj/fault_entry.o: guests/rt/fault_entry.S $(SVCOS_BUILD)/sysroot.id
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -Iinclude -MMD -MP -c $< -o $@

$(SVCOS_BUILD)/libsvcos.a: $(SVCOS_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The self-test's files: a generated tree packed into a cpio, and the digest it must find.
$(SVCOS_BUILD)/selftest/selftest_expect.h: svcos/selftest/gen_root.py
	@mkdir -p $(@D)
	rm -rf $(SVCOS_BUILD)/selftest/root
	$(SVCOS_PY) $< $(SVCOS_BUILD)/selftest/root $@
$(SVCOS_BUILD)/selftest/root.cpio: $(SVCOS_BUILD)/selftest/selftest_expect.h svcos/mkcpio.py
	$(SVCOS_PY) svcos/mkcpio.py $@ $(SVCOS_BUILD)/selftest/root
$(SVCOS_BUILD)/selftest/root.cpio.o: svcos/cpio_embed.S $(SVCOS_BUILD)/selftest/root.cpio $(SVCOS_BUILD)/sysroot.id
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -c -DSVCOS_CPIO_FILE='"$(SVCOS_BUILD)/selftest/root.cpio"' $< -o $@

$(SVCOS_BUILD)/selftest/%.o: svcos/selftest/%.c $(SVCOS_BUILD)/selftest/selftest_expect.h $(SVCOS_BUILD)/sysroot.id
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(SELFTEST_CFLAGS) -c $< -o $@

# The image has the netstack (netstack/netstack.mk): its network checks run over lwIP.  The checks
# refer to netstack_get_stats weakly (the native build has no lwIP), and a weak reference pulls
# nothing out of an archive: --undefined does, so the leak checks see lwIP's counters.
$(SVCOS_BUILD)/selftest.elf: $(SELFTEST_OBJS) $(SVCOS_BUILD)/selftest/root.cpio.o $(SVCOS_BUILD)/libsvcos.a \
                             $(NETSTACK_LIBS)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -o $@ $(SELFTEST_OBJS) $(SVCOS_BUILD)/selftest/root.cpio.o \
	    $(SVCOS_LINK) -Wl,--undefined=netstack_get_stats $(NETSTACK_LINK) $(SELFTEST_LIBS)

# The same self-test as a Linux program (the sysroot's host dispatcher): the benchmark's peer.
$(SVCOS_BUILD)/native_syscall.o: svcos/sysroot/native_syscall.c $(SVCOS_BUILD)/sysroot.id
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -std=c11 -O2 -fno-stack-protector -c $< -o $@
$(SVCOS_BUILD)/selftest-native: $(SELFTEST_OBJS) $(SVCOS_BUILD)/native_syscall.o
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -o $@ $^ $(SELFTEST_LIBS)
svcos-selftest-native: $(SVCOS_BUILD)/selftest-native

svcos-clean:
	rm -rf $(SVCOS_BUILD)

-include $(shell find $(SVCOS_BUILD) -name '*.d' 2>/dev/null)

.DEFAULT_GOAL := $(svcos_saved_default_goal)
