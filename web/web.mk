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
