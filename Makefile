# flypaper - build, test, benchmark.
#   make              build build/flypaper
#   make asan         build build/asan/flypaper with ASan+UBSan
#   make check        unit and integration tests, then the same under ASan+UBSan
#   make bench        the statistics benchmark (bench/stats.c), then the one
#                     against a bare epoll server (bench/run) and a bare
#                     OpenSSL server (bench/tls)
#   make bench-stats  the statistics benchmark alone
#   make deb          the Debian package, build/deb/flypaper_*.deb

CC      ?= cc
PKGS     = libuv sqlite3 nettle jansson inih
# libyara is not linked: yara_api.c loads it with dlopen when rules are
# asked for (linking it cost every exec, inetd children's too, ~2 ms). Its
# headers are used as usual; the library is the soname found here, by its
# absolute path.
YARA_LIBDIR := $(shell pkg-config --variable=libdir yara)
YARA_SONAME := $(shell objdump -p $(YARA_LIBDIR)/libyara.so 2>/dev/null | awk '/SONAME/{print $$2}')
YARA_CFLAGS := $(shell pkg-config --cflags yara) -DFLYPAPER_LIBYARA=\"$(YARA_LIBDIR)/$(YARA_SONAME)\"
# libpcap likewise (pcap_api.c): linked, it pulled libdbus, libsystemd,
# libgcrypt, liblzma... into every exec; only serve --half-open/--pcap and
# the pcap command load it. Headers from libpcap-dev; Debian's soname is
# libpcap.so.0.8 (package libpcap0.8).
PCAP_LIBDIR := $(shell pkg-config --variable=libdir libpcap)
PCAP_SONAME := $(shell objdump -p $(PCAP_LIBDIR)/libpcap.so 2>/dev/null | awk '/SONAME/{print $$2}')
PCAP_CFLAGS := $(shell pkg-config --cflags libpcap) -DFLYPAPER_LIBPCAP=\"$(PCAP_LIBDIR)/$(PCAP_SONAME)\"
# libgsl likewise (gsl_api.c): only yield and report (the statistics of
# an experiment, stats.c) load it. Headers from libgsl-dev; Debian's
# soname is libgsl.so.27 (package libgsl27).
GSL_LIBDIR := $(shell pkg-config --variable=libdir gsl)
GSL_SONAME := $(shell objdump -p $(GSL_LIBDIR)/libgsl.so 2>/dev/null | awk '/SONAME/{print $$2}')
GSL_CFLAGS := -DFLYPAPER_LIBGSL=\"$(GSL_LIBDIR)/$(GSL_SONAME)\"
# libnats likewise (nats_api.c): only serve --nats and the collect command
# load it. Headers from libnats-dev; Debian's soname is libnats.so.3.4
# (package libnats3.4).
NATS_LIBDIR := $(shell pkg-config --variable=libdir libnats)
NATS_SONAME := $(shell objdump -p $(NATS_LIBDIR)/libnats.so 2>/dev/null | awk '/SONAME/{print $$2}')
NATS_CFLAGS := -DFLYPAPER_LIBNATS=\"$(NATS_LIBDIR)/$(NATS_SONAME)\"
# OpenSSL likewise (ssl_api.c): only a run with a TLS listener loads it.
# dlopen of libssl's soname brings libcrypto with it.
SSL_LIBDIR := $(shell pkg-config --variable=libdir libssl)
SSL_SONAME := $(shell objdump -p $(SSL_LIBDIR)/libssl.so 2>/dev/null | awk '/SONAME/{print $$2}')
SSL_CFLAGS := $(shell pkg-config --cflags libssl) -DFLYPAPER_LIBSSL=\"$(SSL_LIBDIR)/$(SSL_SONAME)\"
# The seccomp allow-list is built at build time by tools/sandbox_gen.c
# (libseccomp) into raw BPF, a header every build variant includes: the
# daemon itself does not link libseccomp.
GEN      = build/gen/sandbox_bpf.h
TEMPLATES_DIR ?= $(CURDIR)/templates
RULES_DIR ?= $(CURDIR)/rules
# The Core Rule Set's scanner lists (Debian: modsecurity-crs), read when
# the rules compile; missing lists are fine.
CRS_DIR ?= /usr/share/modsecurity-crs/rules
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
           -DFLYPAPER_TEMPLATES_DIR=\"$(TEMPLATES_DIR)\" -DFLYPAPER_RULES_DIR=\"$(RULES_DIR)\" \
           -DFLYPAPER_CRS_DIR=\"$(CRS_DIR)\" \
           -Ibuild/gen $(shell pkg-config --cflags $(PKGS)) $(YARA_CFLAGS) $(PCAP_CFLAGS) $(GSL_CFLAGS) $(SSL_CFLAGS) $(NATS_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The source folders are layers (docs/DESIGN.md, "Layers"). Each folder is
# compiled with only the include paths of the folders it may use, so an
# include that crosses a layer the wrong way does not build.
LAYERS       = core capture output analysis sim daemon
USES_core     = core
USES_capture  = core capture
USES_output   = core output
USES_analysis = core output analysis
USES_sim      = core sim
USES_daemon   = $(LAYERS)
layer_of  = $(word 1,$(subst /, ,$(1)))
layer_inc = $(addprefix -Isrc/,$(USES_$(1)))
ALL_INC   = $(addprefix -Isrc/,$(LAYERS))

SRCS     = $(filter-out src/daemon/main.c,$(wildcard $(LAYERS:%=src/%/*.c)))
HDRS     = $(wildcard $(LAYERS:%=src/%/*.h)) $(GEN)
UNIT     = $(wildcard tests/unit/*.c)
OBJ      = $(SRCS:src/%.c=build/obj/$(1)/%.o)

all: layers build/flypaper

build/gen/sandbox_gen: tools/sandbox_gen.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
	    -o $@ $< $(shell pkg-config --cflags --libs libseccomp)

$(GEN): build/gen/sandbox_gen
	build/gen/sandbox_gen > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 2; }

# One object per source file and build variant: plain, asan (ASan+UBSan),
# and each again with the unit tests' hooks.
VFLAGS_plain     =
VFLAGS_asan      = -O1 $(SAN)
VFLAGS_unit      = -DFLYPAPER_TEST_HOOKS
VFLAGS_asan-unit = -O1 $(SAN) -DFLYPAPER_TEST_HOOKS
define variant
build/obj/$(1)/%.o: src/%.c $(GEN)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(VFLAGS_$(1)) $$(call layer_inc,$$(call layer_of,$$*)) -MMD -MP -c -o $$@ $$<
endef
$(foreach v,plain asan unit asan-unit,$(eval $(call variant,$(v))))
-include $(wildcard build/obj/*/*/*.d)

build/flypaper: $(call OBJ,plain) build/obj/plain/daemon/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/unit: $(call OBJ,unit) $(UNIT) $(HDRS)
	$(CC) $(CFLAGS) -DFLYPAPER_TEST_HOOKS $(ALL_INC) -o $@ $(call OBJ,unit) $(UNIT) $(LDFLAGS) $(LDLIBS)

build/asan/flypaper: $(call OBJ,asan) build/obj/asan/daemon/main.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/unit: $(call OBJ,asan-unit) $(UNIT) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -DFLYPAPER_TEST_HOOKS $(ALL_INC) -o $@ $(call OBJ,asan-unit) $(UNIT) $(LDFLAGS) $(LDLIBS)

# No include may reach a folder by a relative path around the rule above,
# and no modules may include each other in a circle (scripts/include-circles,
# which must itself find the circle kept in tests/layers/circle).
layers:
	@! grep -rnE '#include "[^"]*/' src || { echo "layers: include by path (above) bypasses the folder rule" >&2; exit 2; }
	@scripts/include-circles src || { echo "layers: modules of src/ include each other in a circle (above)" >&2; exit 2; }
	@! scripts/include-circles tests/layers/circle 2>/dev/null || { echo "layers: include-circles missed the circle in tests/layers/circle" >&2; exit 2; }
	@echo '#include "session.h"' | $(CC) $(CFLAGS) $(call layer_inc,output) -x c -fsyntax-only - 2>/dev/null \
	    && { echo "layers: output/ could include a capture header: the folder rule does not bite" >&2; exit 2; } || true

# The cost of normalize_payload per payload (docs/DESIGN.md, "Families").
build/bench/normalize: bench/normalize.c src/output/normalize.c src/output/normalize.h
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -Isrc/output -o $@ bench/normalize.c \
	    src/output/normalize.c $(shell pkg-config --libs nettle)

# The statistics of issue 13 validated in-process (bench/stats.c): it links
# the analysis code, stats_decide as yield uses it, and GSL itself for the
# binomial draws of its simulated experiments (a benchmark, not the daemon).
STATS_BENCH_EXPERIMENTS ?= 5000
build/bench/stats: bench/stats.c $(call OBJ,plain) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc/analysis -o $@ bench/stats.c $(call OBJ,plain) $(LDFLAGS) $(LDLIBS) \
	    $(shell pkg-config --libs gsl)

bench-stats: build/bench/stats
	build/bench/stats --experiments $(STATS_BENCH_EXPERIMENTS)

# The CPU a hello sent a byte at a time costs the TLS front (it links the
# daemon's objects and loads libssl as the daemon does).
build/bench/tls-feed-cost: bench/tls-feed-cost.c $(call OBJ,plain) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ALL_INC) -o $@ bench/tls-feed-cost.c $(call OBJ,plain) $(LDFLAGS) $(LDLIBS)

# What a handshake holds in OpenSSL's heap (bench/tls-handshake-memory).
build/bench/tls-handshake-memory: bench/tls-handshake-memory.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o $@ $< \
	    $(shell pkg-config --cflags --libs libssl libcrypto)

# The TLS benchmark's bare server and client (bench/tls): OpenSSL.
build/bench/reftls build/bench/tlsload: build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o $@ $< \
	    $(shell pkg-config --cflags --libs libssl libcrypto) -lpthread

build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o $@ $<

FUZZ_CFLAGS = -g -O1 -std=gnu11 -D_GNU_SOURCE $(ALL_INC) -fsanitize=fuzzer,address,undefined \
              -DFLYPAPER_TEMPLATES_DIR=\"$(TEMPLATES_DIR)\" -DFLYPAPER_RULES_DIR=\"$(RULES_DIR)\" \
              -DFLYPAPER_CRS_DIR=\"$(CRS_DIR)\" \
              -Ibuild/gen $(shell pkg-config --cflags $(PKGS)) $(YARA_CFLAGS) $(PCAP_CFLAGS) $(GSL_CFLAGS) $(SSL_CFLAGS) $(NATS_CFLAGS)
FUZZ_SECONDS ?= 15

build/fuzz/%: fuzz/%.c $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(SRCS) $(LDLIBS)

fuzz: build/fuzz/fuzz_http build/fuzz/fuzz_ident build/fuzz/fuzz_normalize build/fuzz/fuzz_shape build/fuzz/fuzz_synsig build/fuzz/fuzz_p0fdb build/fuzz/fuzz_proxy build/fuzz/fuzz_halfopen build/fuzz/fuzz_frame build/fuzz/fuzz_tlshello build/fuzz/fuzz_report_tls build/fuzz/fuzz_tls_front build/fuzz/fuzz_promtext build/fuzz/fuzz_rfc5424 build/fuzz/fuzz_natsrow

# Runs each fuzzer for FUZZ_SECONDS on a copy of its seed corpus.
fuzz-run: fuzz
	tests/fuzz $(FUZZ_SECONDS)

asan: build/asan/flypaper build/asan/unit

# The Debian package (debian/), built from a copy of the tree in
# build/deb/src, so that its `debian/rules clean` (make clean) leaves this
# build/ alone; the .deb lands in build/deb/. Needs debhelper and dpkg-dev
# (scripts/deps). DEB_BUILD_OPTIONS=nocheck skips the unit tests.
deb:
	rm -rf build/deb
	mkdir -p build/deb/src
	tar -c --exclude=./build --exclude=.git --exclude=__pycache__ --exclude=.pytest_cache \
	    --exclude='*.db' --exclude='*.db-wal' --exclude='*.db-shm' --exclude='*.yarc' \
	    --exclude='*.yarc.key' -f - . | tar -x -C build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	@ls build/deb/flypaper_*.deb

# The libraries the daemon loads with dlopen, by the paths baked in above
# (debian/dlopen-deps words the package's dependencies from them).
dlopen-libs:
	@echo $(YARA_LIBDIR)/$(YARA_SONAME) $(PCAP_LIBDIR)/$(PCAP_SONAME) $(GSL_LIBDIR)/$(GSL_SONAME) $(SSL_LIBDIR)/$(SSL_SONAME) $(NATS_LIBDIR)/$(NATS_SONAME)

unit: build/unit
	build/unit

check: all build/unit asan
	tests/run

bench: all build/bench/refserver build/bench/refinetd build/bench/loadgen build/bench/stats \
       build/bench/reftls build/bench/tlsload
	build/bench/stats --experiments $(STATS_BENCH_EXPERIMENTS)
	bench/run
	bench/tls
	bench/nats

clean:
	rm -rf build

.PHONY: all asan unit check bench bench-stats clean deb dlopen-libs fuzz fuzz-run layers
