# Vigil: `make` builds everything into build/; `make run` runs the appliance; `make test` runs all tests.

O          ?= build
GUEST_O    := build/guests
CC         ?= cc
PYTHON     := /usr/bin/python3

WARN       := -Wall -Wextra -Werror -Wshadow -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes \
              -Wvla -Wformat=2 -Wno-format-truncation
CFLAGS     ?= -O2 -g
HOST_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_CFLAGS) -Iinclude -Ihv -MMD -MP
SLIRP_CFLAGS := $(shell pkg-config --cflags slirp 2>/dev/null)
SLIRP_LIBS   := $(shell pkg-config --libs slirp 2>/dev/null || echo -lslirp)
HOST_LDLIBS = -lpthread -ljansson -lm -lcrypto $(SLIRP_LIBS)
SAN_CFLAGS ?=

# hv's modules form a library shared by hv, hvctl and the unit tests; docs/hv-layout.md
# says what each folder holds and which folders each may include.
HV_DIRS     := base x86 bmc policy evidence nv debug vmm devices net supervisor control
HV_LIB_SRCS := $(foreach d,$(HV_DIRS),$(wildcard hv/$(d)/*.c))
HV_LIB_OBJS := $(HV_LIB_SRCS:%.c=$(O)/obj/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
# The C benchmarks are built with everything else, so that they cannot rot unnoticed.
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)

# Guests: freestanding ELF64 executables at CPL 3 over the hypercall ABI.
GUEST_CFLAGS = -std=c11 $(WARN) -O2 -g -ffreestanding -fno-builtin -nostdlib -static \
                -fno-pic -fno-pie -no-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
                -mno-red-zone $(if $(GUEST_SSE),,-mgeneral-regs-only) -Iinclude -Iguests/rt
GUEST_LDFLAGS := -Wl,-T,guests/rt/guest.ld -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
GUEST_RT_SRCS := $(wildcard guests/rt/*.c guests/rt/*.S)
GUEST_RT_OBJS := $(patsubst %,$(GUEST_O)/%.o,$(basename $(GUEST_RT_SRCS)))
GUEST_NAMES   := demo service-stub
TEST_GUESTS   := $(patsubst tests/guests/%.c,%,$(wildcard tests/guests/*.c))
GUEST_BINS    := $(GUEST_NAMES:%=$(GUEST_O)/%.elf) $(TEST_GUESTS:%=$(GUEST_O)/test-%.elf)

.PHONY: all host guests bench-bins unit asan fuzz deps run test e2e platform-test bench clean format \
        format-check layout-check
all: host guests bench-bins

host: $(O)/hv $(O)/hvctl $(UNIT_BINS)
guests: $(GUEST_BINS)

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

# libslirp's header comes with glib's include paths; only the user-mode backend needs them.
$(O)/obj/hv/net/slirp_backend.o: HOST_CFLAGS += $(SLIRP_CFLAGS)

$(O)/libhv.a: $(HV_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(O)/hv: $(O)/obj/hv/main.o $(O)/obj/hv/options.o $(O)/libhv.a
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(HOST_LDLIBS)

$(O)/hvctl: $(O)/obj/hv/cli/hvctl.o $(O)/obj/hv/cli/hvctl_link.o $(O)/obj/hv/cli/hvctl_evidence.o $(O)/libhv.a
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(HOST_LDLIBS)

bench-bins: $(BENCH_BINS)
$(O)/bench/%: $(O)/obj/bench/%.o $(O)/libhv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(HOST_LDLIBS)

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(O)/libhv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(HOST_LDLIBS)
# test_vm_traps stands in for KVM: hv's ioctl calls reach the test's fake.
$(O)/tests/test_vm_traps: TEST_LDFLAGS := -Wl,--wrap=ioctl

# The core's tests (vmm, supervisor) run hv over the fake platform backend, no /dev/kvm.
CORE_TEST_OBJS = $(patsubst tests/unit/%.c,$(O)/obj/tests/unit/%.o,$(wildcard tests/unit/platform_fake*.c)) \
                 $(O)/obj/tests/unit/core_fixture.o
$(filter $(O)/tests/test_core_%,$(UNIT_BINS)): $(O)/tests/test_core_%: \
    $(O)/obj/tests/unit/test_core_%.o $(CORE_TEST_OBJS) $(O)/libhv.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ -lcmocka $(HOST_LDLIBS)

# CPL 0 code is run by KVM's instruction emulator on PVM, which lacks SSE:
# guests use general registers only, except the checksum guest, which exercises XMM state.
$(GUEST_O)/tests/guests/checksum.o: GUEST_SSE := 1

$(GUEST_O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@
$(GUEST_O)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_O)/%.elf: $(GUEST_O)/guests/%/main.o $(GUEST_RT_OBJS) guests/rt/guest.ld
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^) -lgcc
$(GUEST_O)/test-%.elf: $(GUEST_O)/tests/guests/%.o $(GUEST_RT_OBJS) guests/rt/guest.ld
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^) -lgcc

# The sanitizer build: the same host programs with ASan + UBSan, in build/asan.
asan:
	$(MAKE) O=build/asan SAN_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" host

# libFuzzer over the virtqueue parser and the virtio-net/virtio-mmio paths (docs/virtio-net.md):
# clang with ASan + UBSan, a bounded run from the checked-in seeds (tests/fuzz/make_corpus.py);
# what it finds new goes to build/fuzz/corpus, a crash to build/fuzz/crash-*.
FUZZ_O      := build/fuzz
FUZZ_CC     ?= clang
FUZZ_TIME   ?= 30
FUZZ_SRCS   := $(addprefix hv/devices/,guest_mem.c virtqueue.c virtqueue_used.c virtio.c virtio_net.c \
                   virtio_mmio.c)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE $(filter-out -Wno-format-truncation,$(WARN)) -O1 -g \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
               -Iinclude -Ihv

$(FUZZ_O)/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c $(FUZZ_SRCS) $(wildcard hv/devices/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_virtqueue.c $(FUZZ_SRCS)

fuzz: $(FUZZ_O)/fuzz_virtqueue
	@mkdir -p $(FUZZ_O)/corpus/virtqueue
	$< -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_O)/ $(FUZZ_O)/corpus/virtqueue tests/fuzz/corpus/virtqueue

deps:
	@scripts/deps.sh

# The appliance on an embedded default: the service VM (mgmt-agent, HTTPS on 8443) first, then
# the demo guest. Port 8443 is bound on 127.0.0.1 with host KVM; in the nested machine on all of
# its addresses, so that vigil-kvm's forward from the host's 127.0.0.1 reaches it.
RUN_BIND = $(if $(filter host,$(shell scripts/vigil-kvm --way 2>/dev/null)),127.0.0.1,)
# VIGIL_GUEST=linux: Debian's kernel with a busybox initramfs as the guest instead of the demo
# (scripts/linux-guest.py builds and caches it; docs/linux-guest.md).
run: deps
	@scripts/vigil-kvm --check
	$(MAKE) all
	@if [ "$(VIGIL_GUEST)" = linux ]; then g="$$(scripts/linux-guest.py)" || exit 1; \
	else g="--guest $(GUEST_O)/demo.elf"; fi; eval "set -- $$g"; \
	set -x; scripts/vigil-kvm --interactive --forward 127.0.0.1:8443-:8443 -- \
	    $(O)/hv --service build/mgmt-agent/agent.elf --mem 128 \
	        --net user,hostfwd=tcp:$(RUN_BIND):8443-:8443 --cmdline "--boot-guest guest" \
	        "$$@" --control /tmp/vigil-hv.sock --state-dir build/state $(RUN_ARGS)

unit: host asan
	@set -e; for t in $(UNIT_BINS) $(UNIT_BINS:$(O)/%=build/asan/%); do echo "== $$t"; $$t; done

# The end-to-end suites of both builds, on this host's /dev/kvm or, without one, each in a
# nested KVM machine (scripts/e2e.sh, scripts/vigil-kvm; VIGIL_KVM=host|vm forces the way).
e2e: all asan
	scripts/e2e.sh $(E2E_ARGS)

# Everything that needs no KVM runs first; the KVM check first of all, so that a machine
# with neither KVM nor QEMU fails in seconds, not after the builds.
test: deps
	scripts/vigil-kvm --check
	$(MAKE) format-check layout-check
	$(MAKE) all asan
	$(MAKE) unit fuzz sysroot-check e2e platform-test

# The nested KVM machine itself, forced even where the host has KVM (tests/platform).
platform-test: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/platform

# Benchmarks (not tests) where KVM is: on this host, or in the nested machine with a scratch
# disk for the durability numbers; each names its platform in its JSON (docs/benchmarks.md).
bench: all svcos-selftest-native
	scripts/vigil-kvm --disk 12288 -- sh -c '$(PYTHON) bench/switch.py && $(PYTHON) bench/snapshot.py && \
	    $(PYTHON) bench/svcos.py && $(PYTHON) bench/svcchan.py && $(PYTHON) bench/net.py'

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
# hv's folders include one another without a cycle (docs/hv-layout.md).
layout-check:
	$(PYTHON) scripts/check-layout.py -v

clean:
	rm -rf build

# The service OS: its target sysroot (musl, OpenSSL, libmicrohttpd, Jansson, lwIP from Debian
# source packages, cached outside the tree) and svcos with its self-test image.
-include svcos/sysroot.mk netstack/netstack.mk svcos/svcos.mk
include mgmt-agent/agent.mk
include web/web.mk
all: svcos-selftest

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
-include $(shell find $(GUEST_O) -name '*.d' 2>/dev/null)
.SECONDARY:
