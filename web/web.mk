# web.mk: make fragment for the dashboard: `make web` bundles web/ into build/web (hashed,
# pre-compressed assets; docs/web.md). npm ci runs only when the lockfile changes: its
# node_modules is kept in build/web-npm/<lockfile hash>/, never in the work tree.

WEB_LOCK_HASH := $(shell sha256sum web/package-lock.json 2>/dev/null | cut -c1-16)
WEB_NPM       := build/web-npm/$(WEB_LOCK_HASH)
WEB_MODULES   := $(WEB_NPM)/node_modules
WEB_SRCS      := $(wildcard web/src/*) web/build.mjs

.PHONY: web
all: web
web: build/web/index.html

$(WEB_NPM)/.installed: web/package.json web/package-lock.json
	rm -rf build/web-npm
	mkdir -p $(WEB_NPM)
	cp web/package.json web/package-lock.json $(WEB_NPM)/
	cd $(WEB_NPM) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

build/web/index.html: $(WEB_NPM)/.installed $(WEB_SRCS)
	node web/build.mjs $(WEB_MODULES) build/web

# The service VM's copy: build/web packed as /web into a cpio archive linked into agent.elf
# (svcos unpacks it into its file tree at boot; res_web.c falls back to /web there).
WEB_CPIO := build/web-cpio
$(WEB_CPIO)/web.cpio: build/web/index.html svcos/mkcpio.py
	rm -rf $(WEB_CPIO)/root
	mkdir -p $(WEB_CPIO)/root
	cp -r build/web $(WEB_CPIO)/root/web
	$(SVCOS_PY) svcos/mkcpio.py $@ $(WEB_CPIO)/root

$(WEB_CPIO)/web.cpio.o: svcos/cpio_embed.S $(WEB_CPIO)/web.cpio $(SVCOS_BUILD)/sysroot.id
	SVCOS_PREFIX=$(SVCOS_PREFIX) $(SVCOS_CC) -c -DSVCOS_CPIO_FILE='"$(WEB_CPIO)/web.cpio"' $< -o $@

# agent.mk's link names $(AGENT_SVC_OBJS); the recipe expands it when it runs, after this.
AGENT_SVC_OBJS += $(WEB_CPIO)/web.cpio.o
build/mgmt-agent/agent.elf: $(WEB_CPIO)/web.cpio.o
