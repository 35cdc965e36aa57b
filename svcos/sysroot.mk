# sysroot.mk: make fragment for the service-VM sysroot: `make sysroot` builds it (cached), SVCOS_PREFIX / SVCOS_CC name it for other makefiles.
#
# Include it from the top Makefile (`-include svcos/sysroot.mk`); it does not
# change the default goal.  In rules that compile for the service VM:
#     svcos-objects: | sysroot          (order-only: build the sysroot first)
#     $(SVCOS_CC) -c x.c -o x.o          (static musl, non-PIE; see docs/sysroot.md)
# Rebuild objects when the sysroot changes by depending on $(SVCOS_STAMP).
# SVCOS_PREFIX may be given on the command line or in the environment;
# otherwise it is asked of build.sh once, on first use (~0.3 s).

SVCOS_SYSROOT_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/sysroot
svcos_saved_default_goal := $(.DEFAULT_GOAL)

SVCOS_PREFIX ?= $(eval SVCOS_PREFIX := $(shell $(SVCOS_SYSROOT_DIR)/build.sh --print-prefix))$(SVCOS_PREFIX)
SVCOS_CC = $(SVCOS_PREFIX)/bin/svcos-cc
SVCOS_STAMP = $(SVCOS_PREFIX)/.vigil-sysroot-complete
# lwIP's sources for the netstack: include $(SVCOS_LWIPDIR)/Filelists.mk with LWIPDIR := $(SVCOS_LWIPDIR).
SVCOS_LWIPDIR = $(SVCOS_PREFIX)/src/lwip/src

.PHONY: sysroot sysroot-check
sysroot:
	$(SVCOS_SYSROOT_DIR)/build.sh

# Builds the sysroot if needed, then proves it works natively.
sysroot-check:
	$(SVCOS_SYSROOT_DIR)/selfcheck.sh

.DEFAULT_GOAL := $(svcos_saved_default_goal)
