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
            ceph-mon ceph-osd radosgw libio-socket-ssl-perl python3-aiosmtpd

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

.PHONY: all module unit authd ui deps run stop test clean fuzz

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
            ngx_harbor_module/harbor_sigv4.c

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
TESTS ?= -r t/ $(UNIT_TESTS)

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

clean:
	rm -rf $(BUILD) ui/dist ui/node_modules
	$(MAKE) -C authd clean
