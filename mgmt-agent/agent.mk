# agent.mk: make fragment for mgmt-agent, the Redfish service: the native Linux binary
# $(O)/mgmt-agent/mgmt-agent (part of `make all` and of the sanitizer build), and the service
# VM's build/mgmt-agent/agent.elf (part of `make all`; include this after svcos.mk).
#
# The same sources build for the service VM with $(SVCOS_CC) and a different link
# ($(SVCOS_LINK) $(NETSTACK_LINK) -lssl -lcrypto -lmicrohttpd -ljansson -lz); only the hv link's
# transport differs (hvlink_unix.c natively, the service channel in the service VM).

AGENT_SRCS   := $(filter-out mgmt-agent/hvlink_svc.c,$(wildcard mgmt-agent/*.c))
AGENT_SVC_SRCS := $(filter-out mgmt-agent/hvlink_unix.c,$(wildcard mgmt-agent/*.c))
AGENT_OBJS   := $(AGENT_SRCS:%.c=$(O)/obj/%.o)
AGENT_LDLIBS := -lmicrohttpd -lssl -lcrypto -ljansson -lz

host: $(O)/mgmt-agent/mgmt-agent

$(AGENT_OBJS): HOST_CFLAGS += -Imgmt-agent

$(O)/mgmt-agent/mgmt-agent: $(AGENT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(AGENT_LDLIBS)

# The service VM's build: the same sources but the transport, svcos's compiler and link.
AGENT_SVC_O      := build/mgmt-agent/svc
AGENT_SVC_OBJS   := $(AGENT_SVC_SRCS:mgmt-agent/%.c=$(AGENT_SVC_O)/%.o)
AGENT_SVC_CFLAGS := -std=c11 -D_GNU_SOURCE $(SVCOS_WARN) -O2 -g -Iinclude -Imgmt-agent -Isvcos/include -MMD -MP

.PHONY: mgmt-agent-svc
all: build/mgmt-agent/agent.elf
mgmt-agent-svc: build/mgmt-agent/agent.elf

$(AGENT_SVC_O)/%.o: mgmt-agent/%.c $(SVCOS_BUILD)/sysroot.id
	@mkdir -p $(@D)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) $(AGENT_SVC_CFLAGS) -c $< -o $@

build/mgmt-agent/agent.elf: $(AGENT_SVC_OBJS) $(SVCOS_BUILD)/libsvcos.a $(NETSTACK_LIBS)
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -o $@ $(AGENT_SVC_OBJS) $(SVCOS_LINK) $(NETSTACK_LINK) \
	    -lssl -lcrypto -lmicrohttpd -ljansson -lz

-include $(shell find $(AGENT_SVC_O) -name '*.d' 2>/dev/null)

# Unit tests named tests/unit/test_agent_*.c link the agent's pure parts (the event ring and
# the $filter; RFC 6455 framing and a console viewer's queues), built natively.
AGENT_UNIT_OBJS := $(O)/obj/mgmt-agent/events.o $(O)/obj/mgmt-agent/evfilter.o \
                   $(O)/obj/mgmt-agent/websocket.o $(O)/obj/mgmt-agent/console_viewer.o
$(O)/obj/tests/unit/test_agent_%.o: HOST_CFLAGS += -Imgmt-agent
$(O)/tests/test_agent_%: $(O)/obj/tests/unit/test_agent_%.o $(AGENT_UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ -lcmocka -ljansson -lcrypto
