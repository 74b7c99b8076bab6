# govpki build. `make run` and `make check` are the two set-up commands; both
# install the Debian packages that are missing first (see `deps`).

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc

DEB_PKGS = build-essential pkg-config openssl libssl-dev libp11-dev \
	libp11-kit-dev softhsm2 libmicrohttpd-dev libjansson-dev \
	libsqlite3-dev sqlite3 libgnutls28-dev gnutls-bin opensc curl jq \
	python3 openjdk-17-jdk-headless postgresql libpq-dev
PKGS = openssl libp11 libmicrohttpd jansson sqlite3 gnutls libpq

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wvla
OPT ?= -O2 -g
SAN ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -pthread $(OPT) $(SAN) $(WARN) -I. \
	-DGP_POLICIES_DIR='"$(POLICIES_DIR)"' -DGP_SOFTHSM_MODULE='"$(SOFTHSM_MODULE)"' \
	$(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(SAN) $(PKG_LIBS) -lp11 -ldl -lpthread $(LDLIBS)

SOFTHSM_MODULE ?= /usr/lib/softhsm/libsofthsm2.so
POLICIES_DIR ?= $(CURDIR)/policies

MODULES = core tokens store audit ca kmc est tsa signer tender instance server cli
LIB_SRCS = $(filter-out cli/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS = $(wildcard tests/test_*.c)
TEST_BINS = $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS = $(wildcard bench/*.c)

.PHONY: all deps run check test asan bench fuzz install clean

all: $(BUILD)/govpki $(TEST_BINS) $(BUILD)/govpki-bench

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages; run as root:"; \
	    echo "  sudo apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libgovpki.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/govpki: $(BUILD)/obj/cli/main.o $(BUILD)/libgovpki.a
	$(CC) $(SAN) -pthread -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libgovpki.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libgovpki.a $(LDLIBS_ALL)

$(BUILD)/govpki-bench: $(BENCH_SRCS) bench/bench.h $(BUILD)/libgovpki.a
	$(CC) $(CFLAGS_ALL) -o $@ $(BENCH_SRCS) $(BUILD)/libgovpki.a $(LDLIBS_ALL)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/govpki
	@if [ ! -f var/govpki.json ]; then ./$(BUILD)/govpki init --dir var --dev-clock || exit 1; fi
	./$(BUILD)/govpki serve --dir var --est 127.0.0.1:8444

check: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

test: check

asan: deps
	@$(MAKE) --no-print-directory all BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=0 tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/govpki $(BUILD)/govpki-bench
	@$(BUILD)/govpki-bench --govpki $(BUILD)/govpki

# Fuzzing: every parser of untrusted input has a libFuzzer harness in
# tests/fuzz/fuzz_<name>.c with seeds in tests/fuzz/corpus/<name>/.
# `make fuzz FUZZ_SECONDS=60` runs each for that long.
FUZZ_SECONDS ?= 20
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  OPT="-O1 -g" SAN="-fsanitize=address,undefined,fuzzer-no-link" \
	  WARN="-Wall -Wextra -Werror -Wno-unused-parameter" build-fuzz/libgovpki.a
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); n=$${n#fuzz_}; \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined,fuzzer -I. \
	    $(PKG_CFLAGS) $$f build-fuzz/libgovpki.a $(PKG_LIBS) -lp11 -ldl -lpthread \
	    -o build-fuzz/fuzz_$$n; \
	  mkdir -p build-fuzz/corpus/$$n; \
	  echo "fuzz $$n: $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    build-fuzz/corpus/$$n tests/fuzz/corpus/$$n 2>&1 | tail -n 2; done

# The installed binary knows where its profiles are installed: it is built
# apart, with POLICIES_DIR under PREFIX, not the source tree's.
install: deps
	@if [ "$$(cat build-install/.policies 2>/dev/null)" != \
	  "$(PREFIX)/share/govpki/policies" ]; then rm -rf build-install; fi
	@$(MAKE) --no-print-directory BUILD=build-install \
	  POLICIES_DIR=$(PREFIX)/share/govpki/policies build-install/govpki
	@echo "$(PREFIX)/share/govpki/policies" >build-install/.policies
	install -d $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/share/govpki/policies/approvals
	install -m 0755 build-install/govpki $(DESTDIR)$(PREFIX)/bin/govpki
	install -m 0644 policies/*.json $(DESTDIR)$(PREFIX)/share/govpki/policies/
	install -m 0644 policies/approvals/*.json \
	  $(DESTDIR)$(PREFIX)/share/govpki/policies/approvals/

clean:
	rm -rf build build-asan build-fuzz build-install

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
