// SPDX-License-Identifier: MIT
/* The symbol ladder on stripped copies of the real interpreters: every rung
 * must find gc_collect_main, take_gil and drop_gil exactly where the
 * original's .symtab puts them; hostile debug data must fail cleanly. And
 * where the frame collections have taken HEAD_LOCK, as objdump reads it.
 * Needs binutils (strip, objcopy, nm, objdump) and xz.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "disasm.h"
#include "python_build.h"
#include "symbol_ladder.h"
#include "pyenv_root.h"

#define DEBIAN_EXE "/usr/bin/python3.11"
#define DEBIAN_LIB "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"

static const char *const versions[] = {"3.10.13", "3.11.7", "3.12.1", "3.13.0"};
static const int recovered[] = {PY_PROBE_GC, PY_PROBE_TAKE_GIL, PY_PROBE_DROP_GIL};
static const char *const no_dirs[] = {NULL};
static char tmp[64];

static int make_tmp(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/gw-test-ladder-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int remove_tmp(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail_msg("failed: %s", cmd);
}

static void libpython(const char *version, char *out, size_t len)
{
	char root[256];

	snprintf(out, len, "%s/versions/%s/lib/libpython%.4s.so.1.0",
		 pyenv_root(root, sizeof(root)), version, version);
}

/* The truth: the original's .symtab. */
static struct elf_symbol symtab_symbol(const char *path, const char *name)
{
	struct elf_symbol sym;
	struct elf_file ef;

	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(elf_file__find_symbol(&ef, name, &sym), 0);
	assert_int_equal(sym.source, ELF_SYM_SYMTAB);
	elf_file__close(&ef);
	return sym;
}

static int ladder_find(const char *path, const char *const *dirs, int probe, struct elf_symbol *sym)
{
	const struct python_probe_spec *p = &python_probes[probe];
	struct symbol_ladder l;
	struct elf_file ef;
	int err;

	assert_int_equal(elf_file__open(&ef, path), 0);
	symbol_ladder__init(&l, &ef, dirs);
	err = symbol_ladder__find(&l, p->symbol, p->recovery->callers, p->recovery->calls, sym);
	symbol_ladder__close(&l);
	elf_file__close(&ef);
	return err;
}

/* Every recovered probe of copy is found by method at the original's place. */
static void expect_all(const char *original, const char *copy, const char *const *dirs,
		       const char *method)
{
	size_t i;

	for (i = 0; i < sizeof(recovered) / sizeof(recovered[0]); i++) {
		const char *name = python_probes[recovered[i]].symbol;
		struct elf_symbol want = symtab_symbol(original, name), got;

		if (ladder_find(copy, dirs, recovered[i], &got))
			fail_msg("%s: %s not found", copy, name);
		if (strcmp(elf_symbol__method(&got), method) || got.vaddr != want.vaddr ||
		    got.file_offset != want.file_offset)
			fail_msg("%s: %s via %s at %#" PRIx64 " (offset %#" PRIx64
				 "), .symtab says %#" PRIx64 " (offset %#" PRIx64 ")",
				 copy, name, elf_symbol__method(&got), got.vaddr, got.file_offset,
				 want.vaddr, want.file_offset);
		/* CFI bounds: the symbol's size plus alignment padding. */
		assert_true(got.size >= want.size && got.size < want.size + 64);
	}
}

static void stripped_copy(const char *version, char *out, size_t len)
{
	char original[512];

	libpython(version, original, sizeof(original));
	snprintf(out, len, "%s/stripped-%s.so", tmp, version);
	sh("strip --strip-all -o '%s' '%s'", out, original);
}

static void test_disasm_pyenv(void **state)
{
	char original[512], copy[512];
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		libpython(versions[i], original, sizeof(original));
		stripped_copy(versions[i], copy, sizeof(copy));
		expect_all(original, copy, no_dirs, "disasm");
		/* The unstripped original stays on the first rung. */
		expect_all(original, original, no_dirs, "symtab");
	}
}

/* As Fedora builds it: the function symbols .dynsym lacks, xz-compressed. */
static void add_minidebuginfo(const char *original, const char *copy, const char *out)
{
	sh("cd '%s' && nm -D '%s' --format=posix --defined-only | awk '{print $1}' | sort > dynsyms"
	   " && nm '%s' --format=posix --defined-only | awk '$2 ~ /[Tt]/ {print $1}' | sort > funcs"
	   " && comm -13 dynsyms funcs > keep && objcopy --only-keep-debug '%s' debug"
	   " && objcopy -S --remove-section .gdb_index --remove-section .comment"
	   " --keep-symbols=keep debug mini && xz -f mini"
	   " && objcopy --add-section .gnu_debugdata=mini.xz '%s' '%s'",
	   tmp, original, original, original, copy, out);
}

static void test_gnu_debugdata_pyenv(void **state)
{
	char original[512], copy[512], mini[512];
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		libpython(versions[i], original, sizeof(original));
		stripped_copy(versions[i], copy, sizeof(copy));
		snprintf(mini, sizeof(mini), "%s/mini-%s.so", tmp, versions[i]);
		add_minidebuginfo(original, copy, mini);
		expect_all(original, mini, no_dirs, "gnu_debugdata");
	}
}

static void build_id_path(const char *binary, const char *dir, char *out, size_t len)
{
	struct elf_file ef;
	char id[41];

	assert_int_equal(elf_file__open(&ef, binary), 0);
	assert_int_equal(elf_file__build_id(&ef, id, sizeof(id)), 0);
	elf_file__close(&ef);
	snprintf(out, len, "%s/.build-id/%.2s/%s.debug", dir, id, id + 2);
}

/* Installs debug (a path) as binary's build-id debug file under dir. */
static void install_debug(const char *binary, const char *dir, const char *debug)
{
	char path[1024];

	build_id_path(binary, dir, path, sizeof(path));
	sh("mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", path, debug, path);
}

static void test_debuginfo_pyenv(void **state)
{
	char original[512], copy[512], root[256], debug[512];
	const char *dirs[3];
	size_t i;

	snprintf(root, sizeof(root), "%s/root/usr/lib/debug", tmp);
	/* The target's root first (missing here), then the next. */
	dirs[0] = "/nonexistent/gilwatch/usr/lib/debug";
	dirs[1] = root;
	dirs[2] = NULL;
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		libpython(versions[i], original, sizeof(original));
		stripped_copy(versions[i], copy, sizeof(copy));
		/* What a -dbgsym package installs: sections NOBITS, .symtab kept. */
		snprintf(debug, sizeof(debug), "%s/debug-%s", tmp, versions[i]);
		sh("objcopy --only-keep-debug '%s' '%s'", original, debug);
		install_debug(copy, root, debug);
		expect_all(original, copy, dirs, "debuginfo");
	}
}

static uint64_t vaddr_of(const char *path, int probe)
{
	struct elf_symbol sym;

	assert_int_equal(ladder_find(path, no_dirs, probe, &sym), 0);
	return sym.vaddr;
}

/* A non-PIE executable (file offsets = vaddr - 0x400000): the debug file's
 * address, the binary's own program headers for the offset. A debug file
 * with another build-id at that path is not used.
 */
static void test_debuginfo_offsets(void **state)
{
	char debug[512], root[256], wrong[256], lib[512];
	const char *dirs[] = {wrong, root, NULL};
	uint64_t take = vaddr_of(DEBIAN_EXE, PY_PROBE_TAKE_GIL);
	struct elf_symbol sym;

	snprintf(root, sizeof(root), "%s/exe-root", tmp);
	snprintf(wrong, sizeof(wrong), "%s/wrong-root", tmp);
	snprintf(debug, sizeof(debug), "%s/exe.debug", tmp);
	sh("objcopy --only-keep-debug '%s' '%s' && objcopy --add-symbol take_gil=%#" PRIx64
	   ",function,local --add-symbol drop_gil=%#" PRIx64 ",function,local '%s'",
	   DEBIAN_EXE, debug, take, take + 0x40, debug);
	install_debug(DEBIAN_EXE, root, debug);
	libpython("3.12.1", lib, sizeof(lib));
	install_debug(DEBIAN_EXE, wrong, lib);

	assert_int_equal(ladder_find(DEBIAN_EXE, dirs, PY_PROBE_TAKE_GIL, &sym), 0);
	assert_string_equal(elf_symbol__method(&sym), "debuginfo");
	assert_int_equal(sym.vaddr, take);
	assert_int_equal(sym.file_offset, take - 0x400000);
	assert_int_equal(ladder_find(DEBIAN_EXE, dirs, PY_PROBE_DROP_GIL, &sym), 0);
	assert_int_equal(sym.file_offset, take + 0x40 - 0x400000);
	/* Only the wrong one: the ladder goes on down. */
	dirs[1] = NULL;
	assert_int_equal(ladder_find(DEBIAN_EXE, dirs, PY_PROBE_TAKE_GIL, &sym), 0);
	assert_string_equal(elf_symbol__method(&sym), "disasm");
}

/* Addresses of the direct calls to fn@plt, by objdump. */
static int call_sites(const char *path, const char *fn, uint64_t *out, int max)
{
	char cmd[512], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn '%s' | grep -E 'call +[0-9a-f]+ <%s@plt>'", path,
		 fn);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) && n < max)
		if (sscanf(line, " %" SCNx64 ":", &out[n]) == 1)
			n++;
	pclose(p);
	return n;
}

/* The only call to fn in the whole file is inside the recovered function. */
static void expect_sole_caller(const char *path, int probe, const char *fn)
{
	struct elf_symbol sym;
	uint64_t sites[8];

	assert_int_equal(ladder_find(path, no_dirs, probe, &sym), 0);
	assert_string_equal(elf_symbol__method(&sym), "disasm");
	assert_int_equal(call_sites(path, fn, sites, 8), 1);
	assert_in_range(sites[0], sym.vaddr, sym.vaddr + sym.size - 1);
}

/* gc__start sits in gc_collect_main or in a cold part that jumps into it. */
static void expect_gc_around_usdt(const char *path)
{
	uint64_t pc, start, end, targets[64];
	struct elf_symbol gc;
	struct elf_file ef;
	uint8_t code[4096];
	int n, i, inside = 0;

	assert_int_equal(ladder_find(path, no_dirs, PY_PROBE_GC, &gc), 0);
	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(elf_file__usdt_pc(&ef, "python", "gc__start", &pc), 0);
	assert_int_equal(elf_file__function_range(&ef, pc, &start, &end), 0);
	if (start == gc.vaddr) {
		inside = 1;
	} else {
		assert_true(end - start <= sizeof(code));
		assert_int_equal(elf_file__read(&ef, start, code, end - start), 0);
		n = disasm__jump_targets(code, end - start, start, targets, 64);
		for (i = 0; i < n; i++)
			inside |= targets[i] >= gc.vaddr && targets[i] < gc.vaddr + gc.size;
	}
	elf_file__close(&ef);
	assert_true(inside);
}

/* Debian's LTO+PGO executable: take_gil is recovered; drop_gil is inlined
 * into PyEval_SaveThread (and four other places), so there is no function
 * that sees every release: none is claimed.
 */
static void test_debian_exe(void **state)
{
	struct elf_symbol sym;
	uint64_t sites[8];

	expect_sole_caller(DEBIAN_EXE, PY_PROBE_TAKE_GIL, "pthread_cond_timedwait");
	assert_int_equal(ladder_find(DEBIAN_EXE, no_dirs, PY_PROBE_DROP_GIL, &sym), -ENOENT);
	assert_true(call_sites(DEBIAN_EXE, "pthread_cond_wait", sites, 8) > 1);
	expect_gc_around_usdt(DEBIAN_EXE);
}

/* Debian's shared libpython3.11 (LTO, like docker's slim images). */
static void test_debian_libpython(void **state)
{
	if (access(DEBIAN_LIB, R_OK))
		skip(); /* package libpython3.11, not always installed */
	expect_sole_caller(DEBIAN_LIB, PY_PROBE_TAKE_GIL, "pthread_cond_timedwait");
	expect_sole_caller(DEBIAN_LIB, PY_PROBE_DROP_GIL, "pthread_cond_wait");
	expect_gc_around_usdt(DEBIAN_LIB);
}

static void read_file(const char *path, void **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = ftell(f);
	rewind(f);
	*buf = malloc(*len ? *len : 1);
	assert_non_null(*buf);
	assert_int_equal(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

static int unxz_file(const char *path, size_t max, size_t *out_len)
{
	void *in, *out = NULL;
	size_t len;
	int err;

	read_file(path, &in, &len);
	err = symbol_ladder__unxz(in, len, max, &out, out_len);
	assert_true(err ? out == NULL : out != NULL);
	free(out);
	free(in);
	return err;
}

static void test_unxz(void **state)
{
	char path[512], bomb[512];
	size_t len;

	snprintf(path, sizeof(path), "%s/small.xz", tmp);
	sh("head -c 1000 /dev/urandom | xz > '%s'", path);
	assert_int_equal(unxz_file(path, 1000, &len), 0);
	assert_int_equal(len, 1000);
	assert_int_equal(unxz_file(path, 999, &len), -EFBIG);
	sh("head -c 100 '%s' > '%s.cut'", path, path);
	strcat(path, ".cut");
	assert_int_equal(unxz_file(path, 1000, &len), -EBADMSG);
	snprintf(path, sizeof(path), "%s/garbage", tmp);
	sh("head -c 4096 /dev/urandom > '%s'", path);
	assert_int_equal(unxz_file(path, 1 << 20, &len), -EBADMSG);
	/* 10 KiB that would be 65 MiB. */
	snprintf(bomb, sizeof(bomb), "%s/bomb.xz", tmp);
	sh("head -c %u /dev/zero | xz -0 > '%s'", SYMBOL_LADDER_XZ_MAX + (1u << 20), bomb);
	assert_int_equal(unxz_file(bomb, SYMBOL_LADDER_XZ_MAX, &len), -EFBIG);
}

/* A broken .gnu_debugdata is passed over: the next rungs still work. */
static void test_hostile_debugdata(void **state)
{
	const char *payloads[] = {
	    "head -c 4096 /dev/urandom > payload",
	    "head -c 2000 mini.xz > payload", /* truncated */
	    "head -c 68157440 /dev/zero | xz -0 > payload",
	    "printf 'not an ELF' | xz > payload",
	    "xz -dc mini.xz | head -c 50000 | xz > payload", /* an ELF cut short */
	};
	char original[512], copy[512], hostile[512];
	size_t i;

	libpython("3.11.7", original, sizeof(original));
	stripped_copy("3.11.7", copy, sizeof(copy));
	snprintf(hostile, sizeof(hostile), "%s/mini-hostile.so", tmp);
	add_minidebuginfo(original, copy, hostile); /* leaves mini.xz */
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		sh("cd '%s' && %s && objcopy --add-section .gnu_debugdata=payload '%s' '%s'", tmp,
		   payloads[i], copy, hostile);
		expect_all(original, hostile, no_dirs, "disasm");
	}
}

/* objdump's name for the callee of the 5-byte call that ends at vaddr. */
static void callee_before(const char *path, uint64_t vaddr, char *out, size_t len)
{
	char cmd[1024], line[512], *lt, *gt;
	FILE *p;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=%#" PRIx64
		 " --stop-address=%#" PRIx64 " '%s'",
		 vaddr - 5, vaddr, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		lt = strchr(line, '<');
		gt = lt ? strchr(lt, '>') : NULL;
		if (strstr(line, "call") && gt)
			snprintf(out, len, "%.*s", (int)(gt - lt - 1), lt + 1);
	}
	pclose(p);
}

/* Where _PyThread_CurrentFrames/Exceptions hold HEAD_LOCK from: the return
 * of fn's first HEAD_LOCK call in path; checked against objdump.
 */
static uint64_t head_lock_site(const char *path, const char *fn)
{
	struct elf_symbol sym, site;
	struct elf_file ef;
	char callee[256];

	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(elf_file__find_symbol(&ef, fn, &sym), 0);
	if (disasm__call_return(&ef, &sym, head_lock_calls, &site))
		fail_msg("%s: no HEAD_LOCK call found in %s", path, fn);
	elf_file__close(&ef);
	assert_true(site.vaddr > sym.vaddr && site.vaddr < sym.vaddr + sym.size);
	callee_before(path, site.vaddr, callee, sizeof(callee));
	if (strncmp(callee, "PyThread_acquire_lock", 21))
		fail_msg("%s: %s's site %#" PRIx64 " follows a call of '%s'", path, fn, site.vaddr,
			 callee);
	return site.vaddr;
}

/* In every build with a semaphore HEAD_LOCK, stripped copies included. */
static void test_head_lock_sites(void **state)
{
	static const char *const fns[] = {"_PyThread_CurrentFrames", "_PyThread_CurrentExceptions"};
	char original[512], copy[512];
	struct elf_symbol sym, site;
	struct elf_file ef;
	size_t i, j;

	for (i = 0; i < 3; i++) { /* 3.13's HEAD_LOCK is a PyMutex */
		libpython(versions[i], original, sizeof(original));
		stripped_copy(versions[i], copy, sizeof(copy));
		for (j = 0; j < 2; j++)
			assert_int_equal(head_lock_site(copy, fns[j]),
					 head_lock_site(original, fns[j]));
	}
	for (j = 0; j < 2; j++)
		head_lock_site(DEBIAN_EXE, fns[j]);
	/* A function that takes no lock. */
	assert_int_equal(elf_file__open(&ef, original), 0);
	assert_int_equal(elf_file__find_symbol(&ef, "PyDict_New", &sym), 0);
	assert_int_equal(disasm__call_return(&ef, &sym, head_lock_calls, &site), -ENOENT);
	elf_file__close(&ef);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_disasm_pyenv),
	    cmocka_unit_test(test_gnu_debugdata_pyenv),
	    cmocka_unit_test(test_debuginfo_pyenv),
	    cmocka_unit_test(test_debuginfo_offsets),
	    cmocka_unit_test(test_debian_exe),
	    cmocka_unit_test(test_debian_libpython),
	    cmocka_unit_test(test_unxz),
	    cmocka_unit_test(test_hostile_debugdata),
	    cmocka_unit_test(test_head_lock_sites),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
