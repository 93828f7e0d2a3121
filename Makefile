# nnctl build. CPU engine by default; GPU=1 adds the CUDA engine (cuBLAS +
# cuDNN, src/engine/gpu/) into build-gpu/.
# make            build ./nnctl
# make GPU=1      build build-gpu/nnctl with engines cpu and gpu (CUDA_HOME=/usr/local/cuda)
# make test-gpu   the GPU engine against the CPU engine, op by op and in training
#                 (needs a CUDA device; without one it says so and passes)
# make test       unit tests (cmocka), oracles, end-to-end scripts (scripts/run-tests;
#                 the counting rules are tests/README.md's); SANITIZE=1 for ASan+UBSan
# make check      install deps, make test, make test SANITIZE=1, make fuzz-smoke, and one
#                 total line; STRICT=1 (what CI runs) fails on any skip but the GPU ones
# make demo       install deps, build, train on the shipped MNIST, eval, predict
#                 (DEMO_ARGS="--set train.epochs=1": options for nnctl train)
# make bench      benchmarks (scripts/bench, bench-rnn, bench-cnn, bench-compare, bench-startup)
# make install    PREFIX=/usr/local

PREFIX   ?= /usr/local
CC       ?= cc
PKGS     := openblas libconfig hdf5 libpng libjpeg jansson zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# What a start costs is mostly the libraries the loader maps and relocates,
# so nnctl links only what every command needs. OpenBLAS (and oneDNN,
# below) are loaded when the engine first computes (src/engine/cpu/
# blas_api.h). HDF5 is linked statically where Debian's libhdf5-dev has the
# archive: its shared library pulls in libcurl, OpenSSL, Kerberos and LDAP
# (30 more libraries, 5-8 ms of every start) for remote-file drivers nnctl
# never uses. HDF5_STATIC=0 links the shared one.
HDF5_DIR   := $(patsubst -L%,%,$(filter -L%,$(shell pkg-config --libs hdf5 2>/dev/null)))
HDF5_STATIC ?= $(if $(wildcard $(HDF5_DIR)/libhdf5.a),1,0)
ifeq ($(HDF5_STATIC),1)
HDF5_LIBS  := $(HDF5_DIR)/libhdf5.a -lsz -lz -ldl -lm
else
HDF5_LIBS  := $(shell pkg-config --libs hdf5 2>/dev/null)
endif
PKG_LIBS   := $(shell pkg-config --libs $(filter-out openblas hdf5,$(PKGS)) 2>/dev/null) \
              $(HDF5_LIBS) -ldl

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=gnu11 -fno-math-errno -Wall -Wextra -Werror -Wno-format-truncation -fopenmp -Isrc -Iinclude $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -fopenmp -lm -lpthread -ldl

# oneDNN (Debian's libdnnl-dev) runs the CPU engine's convolutions and its
# bf16 products when its header is there; DNNL=0 builds without it (the
# im2col + OpenBLAS path, fp32 only). It is not linked: the engine loads
# libdnnl.so.2 when a command first needs it (src/engine/cpu/dnnl_api.h).
DNNL     ?= $(if $(wildcard /usr/include/oneapi/dnnl/dnnl.h),1,0)
ifeq ($(DNNL),1)
CFLAGS   += -DNN_HAVE_DNNL
LDLIBS   += -ldl
endif

ifeq ($(GPU),1)
BUILD    ?= build-gpu
endif
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
# GCC 12's LeakSanitizer crashes scanning the dynamic thread-local storage
# of OpenBLAS and oneDNN in OpenMP threads when dlopen loaded them:
# sanitizer builds link both (the engine's dlopen then finds them loaded)
LDLIBS   += -Wl,--no-as-needed $(shell pkg-config --libs openblas 2>/dev/null) \
            $(if $(filter 1,$(DNNL)),-ldnnl) -Wl,--as-needed
else
BUILD    ?= build
endif

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS   += -DNNCTL_VERSION=\"$(VERSION)\"

LIB_SRC  := $(shell find src -name '*.c' ! -name main.c ! -path 'src/engine/gpu/*' \
              ! -name mpi_plugin.c | sort)

# MPI (src/dist/): nnctl never links an MPI library. A launcher (mpirun,
# mpiexec, srun) starting it as one of several processes makes it load
# nnctl-mpi-<impl>.so from beside the binary (or PREFIX/lib/nnctl), built
# here for each MPI library pkg-config finds: Open MPI (ompi-c) and MPICH
# (mpich). A plain nnctl loads and initialises nothing. MPI=0: no plugins.
MPI      ?= 1
MPI_IMPLS := $(if $(filter 1,$(MPI)),$(if $(shell pkg-config --exists ompi-c 2>/dev/null && echo y),openmpi) \
              $(if $(shell pkg-config --exists mpich 2>/dev/null && echo y),mpich))
MPI_PC_openmpi := ompi-c
MPI_PC_mpich   := mpich
MPI_PLUGINS = $(MPI_IMPLS:%=$(BUILD)/nnctl-mpi-%.so)

# GPU=1: the CUDA engine. Its C files go through $(CC) like the rest, its
# kernels through nvcc; sm_90 code for Hopper plus compute_75 PTX that the
# driver compiles for any other supported GPU on first use.
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_75,code=compute_75
NVCCFLAGS ?= -O3 -g
# engine.h is C: its designated initializers skip fields, fine in C
NVCCFLAGS += -std=c++20 -Isrc -Iinclude -I$(CUDA_HOME)/include $(CUDA_ARCH) -Werror all-warnings \
             -Xcompiler -Wall,-Wextra,-Werror,-Wno-missing-field-initializers
GPU_CU   := $(sort $(wildcard src/engine/gpu/*.cu))
ifeq ($(GPU),1)
LIB_SRC  += $(sort $(wildcard src/engine/gpu/*.c))
CFLAGS   += -DNN_HAVE_GPU -isystem $(CUDA_HOME)/include
# RUNPATH: a bundle's own lib/ first (scripts/gpu-bundle), then the toolkit's;
# LD_LIBRARY_PATH still wins, which scripts/gpu-check relies on
LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++ \
            -Wl,-rpath,'$$ORIGIN/lib' -Wl,-rpath,$(CUDA_HOME)/lib64
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(if $(filter 1,$(GPU)),$(GPU_CU:%.cu=$(BUILD)/%.o))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

NNCTL    := $(BUILD)/nnctl

# Plugins: the examples (examples/plugins/) and the tests' own
# (tests/plugins/), built as a user builds one: C99, only the public header.
PLUGIN_SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer
PLUGIN_CFLAGS := -std=c99 -pedantic -Wall -Wextra -Werror -O2 -g -fPIC -Iinclude \
                 $(if $(filter 1,$(SANITIZE)),$(PLUGIN_SAN))
PLUGIN_SRC := $(sort $(wildcard examples/plugins/*.c tests/plugins/*.c))
PLUGIN_SO  := $(patsubst %.c,$(BUILD)/plugins/%.so,$(notdir $(PLUGIN_SRC)))
vpath %.c examples/plugins tests/plugins

.PHONY: all test check unit-tests plugins man demo bench install clean test-gpu gpu-tests gpu-bundle
all: nnctl

nnctl: $(NNCTL) $(MPI_PLUGINS)
	@if [ "$(BUILD)" = build ]; then ln -sf $(NNCTL) nnctl; fi

# one plugin per MPI library, from the same source (mpi.h differs)
$(BUILD)/nnctl-mpi-%.so: src/dist/mpi_plugin.c src/dist/mpi_abi.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -DNN_MPI_IMPL=\"$*\" \
	  $(shell pkg-config --cflags $(MPI_PC_$*)) $(LDFLAGS) -shared -o $@ $< \
	  $(shell pkg-config --libs $(MPI_PC_$*))

$(NNCTL): $(BUILD)/src/main.o $(BUILD)/libnnctl.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libnnctl.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# the built-in ImageNet class names (.incbin: not in the -MMD dependencies)
$(BUILD)/src/data/imagenet_classes.o: datasets/imagenet/classes.txt

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libnnctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/libnnctl.a $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libnnctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/libnnctl.a $(LDLIBS)

unit-tests: $(TEST_BIN) $(TOOL_BIN) $(NNCTL) $(MPI_PLUGINS) $(PLUGIN_SO)

plugins: $(PLUGIN_SO)

# the man page's tables from the registry rows (tests/integration/man.sh checks them)
man: $(BUILD)/tools/mantables
	scripts/man-tables $(BUILD)/tools/mantables docs/nnctl.1

$(BUILD)/plugins/%.so: %.c include/nnctl/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $< -lm

# the tests that load plugins find them here
$(BUILD)/tests/test_plugins $(BUILD)/tests/test_gradcheck: CFLAGS += -DNN_PLUGIN_DIR=\"$(BUILD)/plugins\"

test: unit-tests
	NNCTL=$(NNCTL) BUILD=$(BUILD) SANITIZE=$(SANITIZE) STRICT=$(STRICT) scripts/run-tests

# The GPU engine's test program (tests/gpu/) and the binary it trains with.
GPU_BUILD ?= build-gpu
gpu-tests: $(BUILD)/gpu-tests/test_gpu_engine $(NNCTL)

$(BUILD)/gpu-tests/%: tests/gpu/%.c $(wildcard tests/unit/*.h) $(BUILD)/libnnctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/libnnctl.a $(LDLIBS) -lcmocka

test-gpu:
	$(MAKE) GPU=1 BUILD=$(GPU_BUILD) SANITIZE= gpu-tests
	NNCTL=$(GPU_BUILD)/nnctl $(GPU_BUILD)/gpu-tests/test_gpu_engine

# build-gpu/ and gpu-dist/: what scripts/gpu-check runs on a GPU machine
gpu-bundle:
	scripts/gpu-bundle

# Every step runs even after one fails (CI shows all failures at once); the
# last line is the total over the three: tests: N passed, M failed, K skipped
CHECK_RESULTS := build/test-results build-san/test-results build-fuzz/test-results
check:
	scripts/install-deps
	@rm -rf $(CHECK_RESULTS); rc=0; \
	$(MAKE) test STRICT=$(STRICT) || rc=1; \
	$(MAKE) test SANITIZE=1 STRICT=$(STRICT) || rc=1; \
	$(MAKE) fuzz-smoke STRICT=$(STRICT) || rc=1; \
	STRICT=$(STRICT) scripts/run-tests --total $(CHECK_RESULTS) || rc=1; \
	exit $$rc

demo:
	scripts/demo $(DEMO_ARGS)

bench: $(NNCTL) $(BUILD)/tools/bench_gemm
	NNCTL=$(NNCTL) scripts/bench
	NNCTL=$(NNCTL) scripts/bench-rnn --cell lstm
	NNCTL=$(NNCTL) scripts/bench-cnn --model both
	NNCTL=$(NNCTL) scripts/bench-compare
	NNCTL=$(NNCTL) scripts/bench-startup

install: $(NNCTL) $(MPI_PLUGINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/include/nnctl $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(NNCTL) $(DESTDIR)$(PREFIX)/bin/nnctl
	$(if $(MPI_PLUGINS),install -d $(DESTDIR)$(PREFIX)/lib/nnctl && \
	  install -m 644 $(MPI_PLUGINS) $(DESTDIR)$(PREFIX)/lib/nnctl/)
	install -m 644 docs/nnctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/nnctl.1
	install -d $(DESTDIR)$(PREFIX)/share/nnctl/applications
	install -m 644 configs/applications/*.cfg $(DESTDIR)$(PREFIX)/share/nnctl/applications/
	install -m 644 scripts/nnctl.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nnctl
	install -m 644 include/nnctl/plugin.h $(DESTDIR)$(PREFIX)/include/nnctl/plugin.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' nnctl.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nnctl.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/nnctl.pc

clean:
	rm -rf build build-san build-gpu gpu-dist nnctl

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The engine's loops are the hot path: vectorize them fully.
$(BUILD)/src/engine/%.o: CFLAGS += -O3

# ===========================================================================
# Fuzzing (libFuzzer + ASan + UBSan, clang). Self-contained: everything goes
# to build-fuzz/ and nothing above depends on it.
#   make fuzz                     build and run every target FUZZ_SECONDS each
#   make fuzz-build               just build build-fuzz/fuzz_<target>
#   make fuzz-run-<target>        run one (FUZZ_TARGETS below; tests/fuzz/targets.h)
#   make fuzz-smoke               every target FUZZ_SMOKE_SECONDS, counted as a
#                                 test part (make check's step)
# Runs go through tests/fuzz/run.sh: no -ignore_crashes; a finding inside
# libhdf5/libconfig is set aside (build-fuzz/crashes/upstream/), any other
# stops the run with its report (status 1).
# Seeds: tests/fuzz/corpus/<target>/ (read only; tests/fuzz/make-seeds
# writes them with numpy, h5py, Keras 3 and tf-keras); new inputs go to
# build-fuzz/corpus-<target>/, crashes to build-fuzz/crashes/.
# Crashers go to tests/fuzz/regressions/<target>/, which
# tests/unit/test_fuzz_regressions.c replays in the normal test suite; ones
# inside libhdf5/libconfig go to tests/fuzz/known-upstream/ (see its README).
# ===========================================================================
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_DIR     := build-fuzz
FUZZ_TARGETS := spec idx png model npy csv tokens cifar keras_json rundir sweep resume
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -std=gnu11 -fno-math-errno -fopenmp -Isrc -Iinclude -Itests \
                $(PKG_CFLAGS) -DNNCTL_VERSION=\"$(VERSION)\"
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_MAXLEN_spec   := 8192
FUZZ_MAXLEN_idx    := 16384
FUZZ_MAXLEN_png    := 32768
FUZZ_MAXLEN_model  := 65536
FUZZ_MAXLEN_npy    := 16384
FUZZ_MAXLEN_csv    := 16384
FUZZ_MAXLEN_tokens := 16384
FUZZ_MAXLEN_cifar  := 65536
FUZZ_MAXLEN_keras_json := 32768
FUZZ_MAXLEN_rundir := 16384
FUZZ_MAXLEN_sweep  := 8192
FUZZ_MAXLEN_resume := 4096

.PHONY: fuzz fuzz-build fuzz-clean fuzz-list fuzz-smoke $(FUZZ_TARGETS:%=fuzz-run-%)
fuzz-build: $(FUZZ_BINS)

fuzz-list:
	@echo $(FUZZ_TARGETS)

# make check's step: every target FUZZ_SMOKE_SECONDS (30), counted like a test
fuzz-smoke:
	STRICT=$(STRICT) scripts/run-tests --fuzz-smoke

fuzz-clean:
	rm -rf $(FUZZ_DIR)

fuzz: fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-run-$$t || rc=1; done; exit $$rc

$(FUZZ_DIR)/src/data/imagenet_classes.o: datasets/imagenet/classes.txt
$(FUZZ_DIR)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/libnnctl-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/targets.c tests/fuzz/targets.h $(FUZZ_DIR)/libnnctl-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_DIR)/libnnctl-fuzz.a $(PKG_LIBS) -fopenmp -lm -lpthread -ldl

$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	tests/fuzz/run.sh $* $(FUZZ_SECONDS) -max_len=$(FUZZ_MAXLEN_$*) $(FUZZ_FLAGS)

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
