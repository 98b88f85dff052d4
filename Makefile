# ngx-harbor: build, run and test.
#
#   make            build the nginx module (and authd, unit tests)
#   make run        install what is missing, build, start a local instance
#   make stop       stop it
#   make test       run every test with prove (the fuzzers for a while too)
#   make fuzz       build the libFuzzer targets of t/fuzz (clang)
#   make test SANITIZE=1
#                   the same suite against a module, authd and unit tests
#                   built with ASan and UBSan (in build/san)
#   make deb        the Debian packages, into build/deb (docs/install.md)
#   make install    the same files without packages (DESTDIR, PREFIX)
#   make uninstall  removes them (not the configuration, not the data)

SHELL       := /bin/bash
HARBOR_PORT ?= 8080
HARBOR_DATA ?= $(CURDIR)/var
BUILD       := $(CURDIR)/build
NGX_SRC     ?= /usr/share/nginx/src
HARBOR_NGINX ?= /usr/sbin/nginx
SANITIZE    ?=
MODULE      := $(BUILD)/ngx_http_harbor_module.so
MODULE_SRCS := config $(wildcard ngx_harbor_module/*.c ngx_harbor_module/*.h)

CFLAGS_UNIT := -O1 -g -Wall -Wextra -Werror -Ingx_harbor_module
UNIT_TESTS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/*.c))

# Debian packages the build, the instance and the tests need.
DEB_PKGS := nginx nginx-dev libjansson-dev libssl-dev libpcre2-dev zlib1g-dev \
            perl skopeo podman buildah docker-registry wrk apache2-utils \
            uidmap curl pkg-config postgresql libpq-dev libmicrohttpd-dev libyaml-dev \
            libsodium-dev libldap-dev slapd ldap-utils libcurl4-openssl-dev \
            chromium fonts-wqy-microhei clang libclang-rt-14-dev \
            ceph-mon ceph-osd radosgw libio-socket-ssl-perl python3-aiosmtpd \
            libsystemd-dev debhelper devscripts lintian acl

export HARBOR_PORT HARBOR_DATA HARBOR_NGINX HARBOR_HTTPS

# SANITIZE=1: everything C in build/san, with AddressSanitizer and
# UndefinedBehaviorSanitizer; the normal build stays where it is.  The
# stock nginx loads the instrumented module with the runtime of the
# compiler that built it preloaded (Harbor::Test does that).
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer
ifeq ($(SANITIZE),1)
BUILD       := $(CURDIR)/build/san
MODULE      := $(BUILD)/ngx_http_harbor_module.so
CFLAGS_UNIT += $(SAN_FLAGS) -fno-sanitize-recover=all
UNIT_TESTS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/*.c))
AUTHD_DIR   := $(BUILD)/authd
AUTHD_MAKE  := O=$(AUTHD_DIR) CFLAGS="-O1 -g $(SAN_FLAGS)" \
               LDFLAGS="$(SAN_FLAGS)"
NGX_SAN_OPT := --with-cc-opt="$(SAN_FLAGS)" --with-ld-opt="$(SAN_FLAGS)"
# what the tests hand to each process: Harbor::Test and Harbor::Authd give
# nginx and authd a log_path in the test's own directory, and scan it;
# any other instrumented process (authd -n, -R, -I run by a test, a unit
# test) reports into SAN_REPORTS, and a report there fails make test
SAN_REPORTS := $(BUILD)/reports
SAN_ASAN    := detect_leaks=1:abort_on_error=0:log_path=$(SAN_REPORTS)/asan
SAN_UBSAN   := print_stacktrace=1:halt_on_error=1:log_path=$(SAN_REPORTS)/ubsan
SAN_ENV     := HARBOR_SANITIZE_RUNTIME=$$($(CC) -print-file-name=libasan.so) \
               HARBOR_MODULE=$(MODULE) AUTHD=$(AUTHD_DIR)/authd \
               AUTHD_UNIT=$(AUTHD_DIR)/t_unit \
               ASAN_OPTIONS=$(SAN_ASAN) UBSAN_OPTIONS=$(SAN_UBSAN)
else
AUTHD_DIR   := $(CURDIR)/authd
endif

# libFuzzer targets (t/fuzz/*.c), with ASan and UBSan whatever SANITIZE
# says (so always in build/fuzz); t/fuzz.t runs each for a bounded time
# against its corpus in t/fuzz/corpus/<target>.
FUZZ_CC      := clang
FUZZ_DIR     := $(CURDIR)/build/fuzz
FUZZ_TARGETS := $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/*.c))
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/%,$(FUZZ_TARGETS))
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -Wall -Wextra -Werror -D_GNU_SOURCE \
                -Ingx_harbor_module -Iauthd -It/fuzz \
                $(shell pkg-config --cflags libpq 2>/dev/null || \
                        echo -I/usr/include/postgresql)
GRAMMAR_SRCS := ngx_harbor_module/harbor_grammar.c \
                ngx_harbor_module/harbor_grammar.h

.PHONY: all module unit authd ui deps run stop test clean fuzz \
        deb install install-files uninstall

all: module authd unit ui

module: $(MODULE)

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" $(NGX_SAN_OPT) \
	    --add-dynamic-module=$(CURDIR) \
	    > $(BUILD)/configure.log 2>&1 || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_harbor_module.so $@.tmp && mv $@.tmp $@

authd:
	$(MAKE) -s -C authd $(AUTHD_MAKE)

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

UNIT_LIB := ngx_harbor_module/harbor_grammar.c ngx_harbor_module/harbor_layout.c \
            ngx_harbor_module/harbor_sigv4.c ngx_harbor_module/harbor_policy.c

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(UNIT_LIB) $(UNIT_LIB:.c=.h)
	@mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -o $@ $< $(UNIT_LIB) -ljansson -lcrypto

fuzz: $(FUZZ_BINS)

$(FUZZ_DIR)/%: t/fuzz/%.c t/fuzz/fuzz.h $(GRAMMAR_SRCS)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< ngx_harbor_module/harbor_grammar.c \
	    -ljansson

$(FUZZ_DIR)/jwt: t/fuzz/jwt.c t/fuzz/fuzz.h ngx_harbor_module/harbor_jwt.c \
                  ngx_harbor_module/harbor_jwt.h
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< ngx_harbor_module/harbor_jwt.c \
	    -ljansson -lcrypto -lm

$(FUZZ_DIR)/config: t/fuzz/config.c t/fuzz/fuzz.h authd/config.c \
                     authd/authd.h
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< authd/config.c -lyaml

# t/s3/s3c: one S3 request signed by harbor_sigv4.c (the tests' client)
S3C := $(BUILD)/s3c

$(S3C): t/s3/s3c.c ngx_harbor_module/harbor_sigv4.c \
        ngx_harbor_module/harbor_sigv4.h
	$(CC) $(CFLAGS_UNIT) -o $@ $< ngx_harbor_module/harbor_sigv4.c \
	    -lcurl -lcrypto

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

# TESTS: what prove runs (default: everything), e.g. TESTS=t/v2-blobs.t.
# The tree stays as it is: no UI screenshots into docs/screenshots (run
# prove -I t/lib t/ui-browser.t by hand to refresh them).
# The sanitizer pass leaves out what would only repeat the plain pass:
# t/install-deb.t builds and installs its own Debian packages (plain
# builds); t/fuzz.t runs the same fuzz targets (always ASan + UBSan builds)
# for the same time; the browser tests (t/ui-*.t) test the UI in Chromium,
# and the authd endpoints they call are those t/api-*.t and t/authd-*.t
# run in this pass.
SAN_SKIP    := t/install-deb.t t/fuzz.t $(wildcard t/ui-*.t)
ifeq ($(SANITIZE),1)
TESTS ?= $(filter-out $(SAN_SKIP),$(wildcard t/*.t)) $(UNIT_TESTS)
else
TESTS ?= -r t/ $(UNIT_TESTS)
endif

ifeq ($(SANITIZE),1)
SAN_CHECK   := ; rc=$$?; \
    r=$$(grep -l -E 'ERROR: |runtime error: |SUMMARY: ' $(SAN_REPORTS)/* \
        2>/dev/null); \
    if [ -n "$$r" ]; then \
        echo "sanitizer reports in $(SAN_REPORTS):"; head -n 40 $$r; rc=1; \
    fi; exit $$rc
endif

test: deps all fuzz $(S3C)
ifeq ($(SANITIZE),1)
	rm -rf $(SAN_REPORTS) && mkdir -m 1777 $(SAN_REPORTS)
endif
	$(SAN_ENV) HARBOR_FUZZ=$(FUZZ_DIR) HARBOR_S3C=$(S3C) HARBOR_UI_SCREENSHOTS= \
	    prove -j2 -I t/lib $(TESTS) $(SAN_CHECK)

# Installing: the files of the three Debian packages (debian/), from the
# tree.  The nginx snippets are made from conf/harbor.conf.in: its upstream
# goes to conf.d (the http context), its server block's body, without
# listen and server_name, to snippets/harbor.conf, which an admin includes
# into a server block of their own (docs/install.md).
PREFIX      ?= /usr/local
ETCDIR      ?= /etc
SYSTEMDDIR  ?= $(PREFIX)/lib/systemd/system
NGX_MODDIR  := $(PREFIX)/lib/nginx/modules
UI_DIR      := $(PREFIX)/share/ngx-harbor/ui
NGX_SNIPPETS := $(ETCDIR)/nginx/snippets
INSTALL_SED := -e 's\#@RUN@\#/run/harbor\#g' -e 's\#@DATA@\#/var/lib/harbor\#g' \
               -e 's\#@CONF@\#$(NGX_SNIPPETS)\#g' -e 's\#@UI@\#$(UI_DIR)\#g' \
               -e 's\#@SBINDIR@\#$(PREFIX)/sbin\#g'
D           := $(DESTDIR)

# what the packages hold (debian/rules calls it with DESTDIR=debian/tmp)
install-files:
	install -d $(D)$(NGX_MODDIR) $(D)$(PREFIX)/share/nginx/modules-available \
	    $(D)$(NGX_SNIPPETS) $(D)$(ETCDIR)/nginx/conf.d $(D)$(PREFIX)/sbin \
	    $(D)$(ETCDIR)/harbor $(D)$(SYSTEMDDIR) $(D)$(ETCDIR)/logrotate.d \
	    $(D)$(PREFIX)/share/man/man8 $(D)$(UI_DIR)
	install -m 0644 $(MODULE) $(D)$(NGX_MODDIR)/ngx_http_harbor_module.so
	echo "load_module $(NGX_MODDIR)/ngx_http_harbor_module.so;" \
	    > $(D)$(PREFIX)/share/nginx/modules-available/mod-http-harbor.conf
	{ cat conf/deb/harbor-snippet.head; \
	  awk '/^server \{/ { s = 1; next } s && /^}/ { s = 0 } \
	       s && !/^    (listen|server_name) / { sub(/^    /, ""); print }' \
	      conf/harbor.conf.in; } | sed $(INSTALL_SED) \
	    -e 's|(conf/harbor-main.conf.in)|(docs/install.md)|' \
	    > $(D)$(NGX_SNIPPETS)/harbor.conf
	{ echo "# ngx-harbor: the upstream of snippets/harbor.conf (authd's socket)"; \
	  awk '/^upstream / { u = 1 } u { print } u && /^}/ { u = 0 }' \
	      conf/harbor.conf.in; } | sed $(INSTALL_SED) \
	    > $(D)$(ETCDIR)/nginx/conf.d/harbor-authd.conf
	install -m 0644 conf/harbor-proxy.conf $(D)$(NGX_SNIPPETS)/harbor-proxy.conf
	install -m 0644 conf/harbor-s3.conf $(D)$(NGX_SNIPPETS)/harbor-s3.conf
	install -m 0755 $(AUTHD_DIR)/authd $(D)$(PREFIX)/sbin/ngx-harbor-authd
	sed -e 's|/etc/harbor/token/|/var/lib/harbor/token/|' \
	    -e 's/^  # \(listen_group\|user\|journal\|registry_storage\):/  \1:/' \
	    -e 's/^\(  listen_group:\) [a-z-]*/\1 www-data/' \
	    -e 's/authd -\([dn]\) -f/ngx-harbor-authd -\1 -f/' \
	    -e 's/^\(# Run with:    \)authd -f/\1ngx-harbor-authd -f/' \
	    conf/authd.yml > $(D)$(ETCDIR)/harbor/authd.yml
	chmod 0640 $(D)$(ETCDIR)/harbor/authd.yml
	sed $(INSTALL_SED) conf/deb/ngx-harbor-authd.service.in \
	    > $(D)$(SYSTEMDDIR)/ngx-harbor-authd.service
	install -m 0644 conf/deb/ngx-harbor-authd.logrotate \
	    $(D)$(ETCDIR)/logrotate.d/ngx-harbor-authd
	install -m 0644 conf/deb/ngx-harbor-authd.8 $(D)$(PREFIX)/share/man/man8/
	cp -R ui/dist/. $(D)$(UI_DIR)/
	chmod -R u=rwX,go=rX $(D)$(UI_DIR)

# make install: the files, then what the packages' maintainer scripts do
# (debian/ngx-harbor-authd.postinst; the module enabled as dh_nginx does)
install: module authd ui
	$(MAKE) install-files
	@if [ -z "$(DESTDIR)" ]; then \
	    ln -sf $(PREFIX)/share/nginx/modules-available/mod-http-harbor.conf \
	        $(ETCDIR)/nginx/modules-enabled/50-mod-http-harbor.conf && \
	    sh debian/ngx-harbor-authd.postinst configure; \
	fi

# the files of make install; what is in /etc (the configuration, the nginx
# snippets, logrotate's) and the data (/var/lib/harbor) stay, as with
# apt remove
uninstall:
	rm -f $(D)$(ETCDIR)/nginx/modules-enabled/50-mod-http-harbor.conf \
	    $(D)$(PREFIX)/share/nginx/modules-available/mod-http-harbor.conf \
	    $(D)$(NGX_MODDIR)/ngx_http_harbor_module.so \
	    $(D)$(PREFIX)/sbin/ngx-harbor-authd \
	    $(D)$(SYSTEMDDIR)/ngx-harbor-authd.service \
	    $(D)$(PREFIX)/share/man/man8/ngx-harbor-authd.8
	rm -rf $(D)$(PREFIX)/share/ngx-harbor
	@# nginx's own directories under /usr belong to nginx-common
	@if [ "$(PREFIX)" != /usr ]; then \
	    rmdir --ignore-fail-on-non-empty $(D)$(NGX_MODDIR) \
	        $(D)$(PREFIX)/lib/nginx $(D)$(PREFIX)/share/nginx/modules-available \
	        $(D)$(PREFIX)/share/nginx 2>/dev/null || true; \
	fi

# The Debian packages, built with dpkg-buildpackage from a copy of the
# source (git's files, not what it ignores) in build/deb/ngx-harbor; the
# .debs land in build/deb, the build's log in build/deb/build.log.  The
# UI's npm packages are those of ui/node_modules (make ui installs them).
# lintian checks them (NO_LINTIAN=1: not now).
DEB_SRC := $(CURDIR)/build/deb/ngx-harbor

deb: ui/node_modules/.package-lock.json
	rm -rf $(CURDIR)/build/deb && mkdir -p $(DEB_SRC)
	git ls-files -z --cached --others --exclude-standard \
	    | xargs -0 cp -p --parents -t $(DEB_SRC)
	ln -s $(CURDIR)/ui/node_modules $(DEB_SRC)/ui/node_modules
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b > ../build.log 2>&1 \
	    || { tail -40 ../build.log; exit 1; }
	$(if $(NO_LINTIAN),,lintian --fail-on error,warning $(CURDIR)/build/deb/*.changes)

clean:
	rm -rf $(BUILD) ui/dist ui/node_modules
	$(MAKE) -C authd clean
