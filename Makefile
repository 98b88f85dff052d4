# ngx-harbor: build, run and test.
#
#   make            build the nginx module (and authd, unit tests)
#   make run        install what is missing, build, start a local instance
#   make stop       stop it
#   make test       run every test with prove

SHELL       := /bin/bash
HARBOR_PORT ?= 8080
HARBOR_DATA ?= $(CURDIR)/var
BUILD       := $(CURDIR)/build
NGX_SRC     ?= /usr/share/nginx/src
HARBOR_NGINX ?= /usr/sbin/nginx
MODULE      := $(BUILD)/ngx_http_harbor_module.so
MODULE_SRCS := config $(wildcard ngx_harbor_module/*.c ngx_harbor_module/*.h)

CFLAGS_UNIT := -O1 -g -Wall -Wextra -Werror -Ingx_harbor_module
UNIT_TESTS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/*.c))

# Debian packages the build, the instance and the tests need.
DEB_PKGS := nginx nginx-dev libjansson-dev libssl-dev libpcre2-dev zlib1g-dev \
            perl skopeo podman buildah docker-registry wrk apache2-utils \
            uidmap curl pkg-config postgresql libpq-dev libmicrohttpd-dev libyaml-dev \
            libsodium-dev libldap-dev slapd ldap-utils libcurl4-openssl-dev \
            chromium fonts-wqy-microhei

export HARBOR_PORT HARBOR_DATA HARBOR_NGINX

.PHONY: all module unit authd ui deps run stop test clean

all: module authd unit ui

module: $(MODULE)

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	    > $(BUILD)/configure.log 2>&1 || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_harbor_module.so $@.tmp && mv $@.tmp $@

authd:
	$(MAKE) -s -C authd

# The web UI: ui/dist, served by nginx at / (Node.js 20 and npm; the
# packages come from the npm registry, pinned by ui/package-lock.json).
UI_SRCS := ui/index.html ui/vite.config.js \
           $(shell find ui/src ui/public -type f 2>/dev/null)

ui: ui/dist/index.html

ui/node_modules/.package-lock.json: ui/package.json ui/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
	    || { echo "the UI build needs Node.js 20 or later (node --version)"; exit 1; }
	cd ui && npm ci --no-audit --no-fund

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SRCS)
	cd ui && npm run build

unit: $(UNIT_TESTS)

UNIT_LIB := ngx_harbor_module/harbor_grammar.c ngx_harbor_module/harbor_layout.c

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(UNIT_LIB) ngx_harbor_module/harbor_grammar.h ngx_harbor_module/harbor_layout.h
	@mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -o $@ $< $(UNIT_LIB) -ljansson -lcrypto

# Install missing Debian packages (needs root; a no-op when all are there).
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	    done); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@id harbor >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin harbor

run: deps all
	@conf/instance.sh start

stop:
	@conf/instance.sh stop

test: deps all
	prove -j2 -I t/lib -r t/ $(UNIT_TESTS)

clean:
	rm -rf $(BUILD) ui/dist ui/node_modules
	$(MAKE) -C authd clean
