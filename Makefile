# gilwatch build. `make deps` installs what the build and tests need (Debian 12).
OUTPUT := build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := x86
PY ?= /usr/bin/python3

# user/ by pipeline stage; a stage uses only itself and the stages before it
# (tests/layers.py checks it).
USER_STAGES := lib discover resolve attach collect detect stacks report session export cmd
USER_INCLUDES := $(patsubst %,-Iuser/%,$(USER_STAGES))

CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude $(USER_INCLUDES) \
	-I$(OUTPUT) -MMD -MP
# make test-asan sets it: AddressSanitizer and UndefinedBehaviorSanitizer.
SANITIZE ?=
CFLAGS += $(SANITIZE)
LDLIBS := -lbpf -ldw -lelf -lz -lcapstone -llzma -lmicrohttpd -lpthread
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(OUTPUT)

# Host system include dirs for BPF code (usdt.bpf.h needs them), as
# libbpf-bootstrap does.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

# binutils (nm, readelf) and python3 drive the tests; util-linux's setpriv and
# unshare too; yamllint and python3-yaml check deploy/.
DEB_PACKAGES := clang llvm libbpf-dev bpftool libelf-dev libdw-dev libcapstone-dev liblzma-dev xz-utils libmicrohttpd-dev zlib1g-dev libcmocka-dev \
	pkg-config make gcc binutils python3 util-linux libclang-rt-14-dev prometheus \
	yamllint python3-yaml clang-format \
	qemu-system-x86 busybox-static python3-venv kmod file debootstrap

USER_SRCS := $(filter-out user/cmd/main.c,$(wildcard user/*/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# Struct offsets measured against each pyenv CPython's internal headers.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
LAYOUT_VERSIONS := 3.10.13 3.11.7 3.12.1 3.13.0
LAYOUT_PROBES := $(patsubst %,$(OUTPUT)/tests/layout-%,$(LAYOUT_VERSIONS))
# CPython 3.13-3.15 as Debian's newest suite ships them, in a root of their
# own made once by debootstrap (tests/pythons/debian_root.py), and the
# offsets measured against each one's internal headers.
SID := build/debian-sid
SID_READY := $(SID)/root/.gilwatch-ready
SID_LAYOUTS := 3.13 3.14 3.14d 3.15 3.15d
LAYOUT_PROBES += $(patsubst %,$(OUTPUT)/tests/layout-debian-%,$(SID_LAYOUTS))

.PHONY: all deps test test-asan unit integration run demo clean format lint fuzz bpf-budget
all: $(OUTPUT)/gilwatch

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	fi

$(OUTPUT) $(OUTPUT)/tests:
	mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

# gilwatch.bpf.o: the probes; retfix.bpf.o: uretprobe return-address fixups.
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) include/gilwatch.h $(OUTPUT)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) $(CLANG_BPF_SYS_INCLUDES) -c $< -o $@

.SECONDARY: $(OUTPUT)/gilwatch.bpf.o $(OUTPUT)/retfix.bpf.o $(OUTPUT)/gilwatch.skel.h \
	$(OUTPUT)/retfix.skel.h

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUTPUT)/user/%.o: user/%.c $(OUTPUT)/gilwatch.skel.h $(OUTPUT)/retfix.skel.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/gilwatch: $(OUTPUT)/user/cmd/main.o $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(USER_OBJS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -lcmocka -o $@

# Every BPF program loaded on the running kernel, its stack and instruction
# figures read from the verifier and held to a budget (tests/bpf/).
$(OUTPUT)/tests/bpf_budget: tests/bpf/bpf_budget.c $(USER_OBJS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -o $@

bpf-budget: $(OUTPUT)/tests/bpf_budget
	$(OUTPUT)/tests/bpf_budget

# Programs built to be refused, for the load diagnosis's unit test.
$(OUTPUT)/tests/rejected.bpf.o: tests/unit/rejected.bpf.c $(OUTPUT)/vmlinux.h | $(OUTPUT)/tests
	$(CLANG) $(BPF_CFLAGS) $(CLANG_BPF_SYS_INCLUDES) -c $< -o $@

$(OUTPUT)/tests/test_python_build $(OUTPUT)/tests/test_debug_offsets $(OUTPUT)/tests/test_lock_type: CFLAGS += \
	-DGW_SID_ROOT='"$(abspath $(SID))/root"'
$(OUTPUT)/tests/test_bpf_load_diag: CFLAGS += -DGW_TEST_BPF_OBJ='"$(OUTPUT)/tests/rejected.bpf.o"'
$(OUTPUT)/tests/test_bpf_load_diag: | $(OUTPUT)/tests/rejected.bpf.o

$(OUTPUT)/tests/layout-%: tests/unit/layout_probe.c | $(OUTPUT)/tests
	$(CC) -O0 -I$(PYENV_ROOT)/versions/$*/include/python$(basename $*) $< -o $@

$(SID_READY):
	$(PY) tests/pythons/debian_root.py

$(OUTPUT)/tests/layout-debian-%: tests/unit/layout_probe.c | $(OUTPUT)/tests $(SID_READY)
	$(CC) -O0 -I$(SID)/root/usr/include/python$* -I$(SID)/include $< -o $@

unit: $(UNIT_BINS) $(LAYOUT_PROBES)
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done

# libFuzzer harnesses (tests/fuzz/) for the decoders of another process's
# memory, built from the sources with clang's sanitizers (not the gcc
# objects), each run for FUZZ_TIME seconds on a scratch copy of its seed
# corpus (the checked-in one does not grow) plus fresh images in the current
# layouts. Any crash, leak or timeout fails; its input is left in
# $(OUTPUT)/fuzz/artifacts/.
FUZZ_TIME ?= 20
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude $(USER_INCLUDES) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := linetable py_stack
FUZZ_BINS := $(patsubst %,$(OUTPUT)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_PY_STACK_SRCS := user/stacks/py_stack.c user/stacks/linetable.c user/lib/proc.c \
	user/resolve/debug_offsets.c \
	user/resolve/python_build.c user/resolve/elf_file.c

$(OUTPUT)/fuzz:
	mkdir -p $@

$(OUTPUT)/fuzz/fuzz_linetable: tests/fuzz/fuzz_linetable.c user/stacks/linetable.c \
		user/stacks/linetable.h \
		| $(OUTPUT)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz/fuzz_py_stack: tests/fuzz/fuzz_py_stack.c $(FUZZ_PY_STACK_SRCS) \
		$(wildcard user/*/*.h include/*.h) | $(OUTPUT)/fuzz $(SID_READY)
	$(CLANG) $(FUZZ_CFLAGS) -DGW_SID_ROOT='"$(abspath $(SID))/root"' $(filter %.c,$^) \
		-lelf -lz -o $@

fuzz: $(FUZZ_BINS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir -p $(OUTPUT)/fuzz/artifacts && \
	for t in $(FUZZ_TARGETS); do \
		mkdir $$tmp/$$t && cp tests/fuzz/corpus/$$t/* $$tmp/$$t/ || exit 1; \
		if [ $$t = py_stack ]; then GW_FUZZ_SEEDS=$$tmp/$$t $(OUTPUT)/fuzz/fuzz_$$t || exit 1; fi; \
		echo "== fuzz_$$t: $(FUZZ_TIME) s"; \
		$(OUTPUT)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -rss_limit_mb=1024 -timeout=5 \
			-max_len=8192 -print_final_stats=1 \
			-artifact_prefix=$(OUTPUT)/fuzz/artifacts/$$t- $$tmp/$$t >$$tmp/$$t.log 2>&1 || \
			{ tail -40 $$tmp/$$t.log; echo "fuzz_$$t FAILED: see $(OUTPUT)/fuzz/artifacts/"; \
			  exit 1; }; \
		grep -E '^Done|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
			$$tmp/$$t.log; \
	done

integration: $(OUTPUT)/gilwatch $(SID_READY)
	$(PY) tests/integration/run.py --gilwatch $(OUTPUT)/gilwatch

# Debian's 6.1, 6.12 and newest kernels under qemu, the checks of
# tests/kernels/guest_checks.py in each (tests/kernels/README.md); kernels
# and virtme-ng cached in build/kernels/.
.PHONY: kernel-matrix
kernel-matrix: $(OUTPUT)/gilwatch $(OUTPUT)/tests/bpf_budget $(SID_READY)
	$(PY) tests/kernels/matrix.py --gilwatch $(OUTPUT)/gilwatch

# Overhead benchmark (bench/README.md): the table on stdout, every figure in
# bench/results.json (~7 min); then `dump` beside py-spy and pystack
# (bench/dump_results.json, ~1 min). bench-smoke: < 60 s, keeps it working (CI);
# its figures (build/bench-smoke.json) are not judged.
.PHONY: bench bench-smoke
# The newest Pythons too: GIL churn and the service workload on Debian
# unstable's 3.14 and 3.15 (bench/results-3.1X.json).
BENCH_NEW := stat-1thread,stat-4threads,pipeline
bench: $(OUTPUT)/gilwatch $(SID_READY)
	$(PY) bench/bench.py --gilwatch $(OUTPUT)/gilwatch
	$(PY) bench/dump_bench.py --gilwatch $(OUTPUT)/gilwatch
	for v in 3.14 3.15; do $(PY) bench/bench.py --gilwatch $(OUTPUT)/gilwatch --only $(BENCH_NEW) \
		--python $(SID)/bin/python$$v --out bench/results-$$v.json || exit 1; done

bench-smoke: $(OUTPUT)/gilwatch
	$(PY) bench/bench.py --smoke --gilwatch $(OUTPUT)/gilwatch
	$(PY) bench/dump_bench.py --smoke --gilwatch $(OUTPUT)/gilwatch --out $(OUTPUT)/dump-smoke.json

# Soak run (bench/soak.py; not in CI): an hour of process, thread and fork
# churn under one agent, a Beam-like freeze every 3 minutes; every freeze
# reported, the agent's memory flat. SOAK_ARGS="--duration 600" for less.
.PHONY: soak
soak: $(OUTPUT)/gilwatch
	$(PY) bench/soak.py --gilwatch $(OUTPUT)/gilwatch $(SOAK_ARGS)

test: deps
	$(MAKE) lint all unit bpf-budget fuzz
	$(MAKE) integration
	$(MAKE) kernel-matrix
	$(MAKE) test-asan
	$(MAKE) bench-smoke

# Unit tests, then the integration tests on two builds, with the user space
# built with ASan and UBSan (any report fails the run) in build-asan/.
ASAN_OUTPUT := build-asan
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
test-asan: deps
	$(SANITIZER_ENV) $(MAKE) OUTPUT=$(ASAN_OUTPUT) \
		SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		all unit
	$(SANITIZER_ENV) $(PY) tests/integration/run.py --gilwatch $(ASAN_OUTPUT)/gilwatch \
		--sanitized

# The main job: the agent over every CPython process of the machine, metrics
# on 127.0.0.1:9947, a summary on the terminal. ARGS passes options through.
run: deps
	$(MAKE) all
	$(OUTPUT)/gilwatch agent $(ARGS)

# A Beam-like demo worker, watched with `watch` (ARGS passes options through).
demo: deps
	$(MAKE) all
	demo/run.sh $(ARGS)

FORMATTED := $(wildcard bpf/*.c bpf/*.h include/*.h user/*/*.[ch] tests/unit/*.c tests/bpf/*.c \
	tests/fuzz/*.c)

format:
	clang-format -i $(FORMATTED)

# The layering of user/ (tests/layout/layers.py) and the formatting of
# every C file, checked.
lint:
	$(PY) tests/layout/layers.py
	@clang-format --dry-run -Werror $(FORMATTED) && \
		echo "clang-format: $(words $(FORMATTED)) files as formatted"

clean:
	rm -rf $(OUTPUT) $(ASAN_OUTPUT)

-include $(wildcard $(OUTPUT)/user/*/*.d $(OUTPUT)/tests/*.d)
