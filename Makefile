# flypaper - build, test, benchmark.
#   make              build build/flypaper
#   make asan         build build/asan/flypaper with ASan+UBSan
#   make check        unit and integration tests, then the same under ASan+UBSan
#   make bench        the benchmark against a bare epoll server (bench/run)

CC      ?= cc
PKGS     = libuv sqlite3 nettle jansson inih yara
# The seccomp allow-list is built at build time by tools/sandbox_gen.c
# (libseccomp) into raw BPF, a header every build variant includes: the
# daemon itself does not link libseccomp.
GEN      = build/gen/sandbox_bpf.h
TEMPLATES_DIR ?= $(CURDIR)/templates
RULES_DIR ?= $(CURDIR)/rules
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
           -DFLYPAPER_TEMPLATES_DIR=\"$(TEMPLATES_DIR)\" -DFLYPAPER_RULES_DIR=\"$(RULES_DIR)\" \
           -Ibuild/gen $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS     = $(filter-out src/main.c,$(wildcard src/*.c))
HDRS     = $(wildcard src/*.h) $(GEN)
UNIT     = $(wildcard tests/unit/*.c)

all: build/flypaper

build/gen/sandbox_gen: tools/sandbox_gen.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
	    -o $@ $< $(shell pkg-config --cflags --libs libseccomp)

$(GEN): build/gen/sandbox_gen
	build/gen/sandbox_gen > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 2; }

build/flypaper: $(SRCS) src/main.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $(SRCS) src/main.c $(LDFLAGS) $(LDLIBS)

build/unit: $(SRCS) $(UNIT) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DFLYPAPER_TEST_HOOKS -Isrc -o $@ $(SRCS) $(UNIT) $(LDFLAGS) $(LDLIBS)

build/asan/flypaper: $(SRCS) src/main.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(SRCS) src/main.c $(LDFLAGS) $(LDLIBS)

build/asan/unit: $(SRCS) $(UNIT) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -DFLYPAPER_TEST_HOOKS -Isrc -o $@ $(SRCS) $(UNIT) $(LDFLAGS) $(LDLIBS)

build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o $@ $<

FUZZ_CFLAGS = -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
              -DFLYPAPER_TEMPLATES_DIR=\"$(TEMPLATES_DIR)\" -DFLYPAPER_RULES_DIR=\"$(RULES_DIR)\" \
              -Ibuild/gen $(shell pkg-config --cflags $(PKGS))
FUZZ_SECONDS ?= 15

build/fuzz/%: fuzz/%.c $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(SRCS) $(LDLIBS)

fuzz: build/fuzz/fuzz_http build/fuzz/fuzz_ident

# Runs each fuzzer for FUZZ_SECONDS on a copy of its seed corpus.
fuzz-run: fuzz
	tests/fuzz $(FUZZ_SECONDS)

asan: build/asan/flypaper build/asan/unit

unit: build/unit
	build/unit

check: all build/unit asan
	tests/run

bench: all build/bench/refserver build/bench/refinetd build/bench/loadgen
	bench/run

clean:
	rm -rf build

.PHONY: all asan unit check bench clean fuzz fuzz-run
