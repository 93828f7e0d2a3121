# nnctl build. CPU engine by default; GPU=1 adds the CUDA engine (later).
# make            build ./nnctl
# make test       unit tests (cmocka) + end-to-end scripts; SANITIZE=1 for ASan+UBSan
# make check      install deps, then make test, then make test SANITIZE=1 (what CI runs)
# make demo       install deps, build, fetch MNIST, train, eval, predict
# make bench      benchmarks (scripts/bench)
# make install    PREFIX=/usr/local

PREFIX   ?= /usr/local
CC       ?= cc
PKGS     := openblas libconfig hdf5 libpng jansson zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=gnu11 -fno-math-errno -Wall -Wextra -Werror -Wno-format-truncation -fopenmp -Isrc $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -fopenmp -lm -lpthread

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    ?= build
endif

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS   += -DNNCTL_VERSION=\"$(VERSION)\"

LIB_SRC  := $(shell find src -name '*.c' ! -name main.c | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

NNCTL    := $(BUILD)/nnctl

.PHONY: all test check unit-tests demo bench install clean
all: nnctl

nnctl: $(NNCTL)
	@if [ "$(BUILD)" = build ]; then ln -sf $(NNCTL) nnctl; fi

$(NNCTL): $(BUILD)/src/main.o $(BUILD)/libnnctl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libnnctl.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libnnctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/libnnctl.a $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libnnctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/libnnctl.a $(LDLIBS)

unit-tests: $(TEST_BIN) $(TOOL_BIN) $(NNCTL)

test: unit-tests
	NNCTL=$(NNCTL) BUILD=$(BUILD) SANITIZE=$(SANITIZE) scripts/run-tests

check:
	scripts/install-deps
	$(MAKE) test
	$(MAKE) test SANITIZE=1

demo:
	scripts/demo

bench: $(NNCTL) $(BUILD)/tools/bench_gemm
	NNCTL=$(NNCTL) scripts/bench

install: $(NNCTL)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(NNCTL) $(DESTDIR)$(PREFIX)/bin/nnctl
	install -m 644 docs/nnctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/nnctl.1
	install -m 644 scripts/nnctl.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nnctl

clean:
	rm -rf build build-san nnctl

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The engine's loops are the hot path: vectorize them fully.
$(BUILD)/src/engine/%.o: CFLAGS += -O3
