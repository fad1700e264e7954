# gilwatch build. `make deps` installs what the build and tests need (Debian 12).
OUTPUT := build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := x86
PY ?= /usr/bin/python3

CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -Iuser -I$(OUTPUT) -MMD -MP
LDLIBS := -lbpf -ldw -lelf -lz -lcapstone
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(OUTPUT)

# Host system include dirs for BPF code (usdt.bpf.h needs them), as
# libbpf-bootstrap does.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

# binutils (nm, readelf) and python3 drive the tests; util-linux's setpriv too.
DEB_PACKAGES := clang llvm libbpf-dev bpftool libelf-dev libdw-dev libcapstone-dev zlib1g-dev libcmocka-dev \
	pkg-config make gcc binutils python3 util-linux

USER_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# Struct offsets measured against each pyenv CPython's internal headers.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
LAYOUT_VERSIONS := 3.10.13 3.11.7 3.12.1 3.13.0
LAYOUT_PROBES := $(patsubst %,$(OUTPUT)/tests/layout-%,$(LAYOUT_VERSIONS))

.PHONY: all deps test unit integration run clean format
all: $(OUTPUT)/gilwatch

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	fi

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests:
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

$(OUTPUT)/user/%.o: user/%.c $(OUTPUT)/gilwatch.skel.h $(OUTPUT)/retfix.skel.h | $(OUTPUT)/user
	$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/gilwatch: $(OUTPUT)/user/main.o $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(USER_OBJS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/tests/layout-%: tests/unit/layout_probe.c | $(OUTPUT)/tests
	$(CC) -O0 -I$(PYENV_ROOT)/versions/$*/include/python$(basename $*) $< -o $@

unit: $(UNIT_BINS) $(LAYOUT_PROBES)
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done

integration: $(OUTPUT)/gilwatch
	$(PY) tests/integration/run.py --gilwatch $(OUTPUT)/gilwatch

test: deps
	$(MAKE) all unit
	$(MAKE) integration

# Until the node agent exists, the main job watches a bundled demo workload.
run: deps
	$(MAKE) all
	demo/run.sh $(ARGS)

format:
	clang-format -i bpf/*.c bpf/*.h include/*.h user/*.[ch] tests/unit/*.c

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d)
