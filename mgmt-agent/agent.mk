# agent.mk: make fragment for mgmt-agent, the Redfish service: the native Linux binary
# $(O)/mgmt-agent/mgmt-agent (part of `make all` and of the sanitizer build).
#
# The same sources build for the service VM with $(SVCOS_CC) and a different link
# ($(SVCOS_LINK) $(NETSTACK_LINK) -lssl -lcrypto -lmicrohttpd -ljansson); only the hv link's
# transport differs (hvlink_unix.c natively, the service channel in the service VM).

AGENT_SRCS   := $(filter-out mgmt-agent/hvlink_svc.c,$(wildcard mgmt-agent/*.c))
AGENT_OBJS   := $(AGENT_SRCS:%.c=$(O)/obj/%.o)
AGENT_LDLIBS := -lmicrohttpd -lssl -lcrypto -ljansson

host: $(O)/mgmt-agent/mgmt-agent

$(AGENT_OBJS): HOST_CFLAGS += -Imgmt-agent

$(O)/mgmt-agent/mgmt-agent: $(AGENT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(AGENT_LDLIBS)
