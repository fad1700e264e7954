// SPDX-License-Identifier: MIT
/* Version detection and struct layouts, checked against the CPython builds
 * installed on this machine: pyenv's shared libraries, Debian 12's static,
 * stripped /usr/bin/python3.11, and Debian unstable's 3.13, 3.14 and 3.15
 * (static and stripped, and the -dbg builds) in build/debian-sid; a
 * free-threaded and a future build fabricated from a real one.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pyenv_root.h"

#include "python_build.h"

#define LIB310 pyenv_path("3.10.13/lib/libpython3.10.so.1.0")
#define LIB311 pyenv_path("3.11.7/lib/libpython3.11.so.1.0")
#define LIB312 pyenv_path("3.12.1/lib/libpython3.12.so.1.0")
#define LIB313 pyenv_path("3.13.0/lib/libpython3.13.so.1.0")
#define LIB27 pyenv_path("2.7.18/lib/libpython2.7.so.1.0")
#define LIB36 pyenv_path("3.6.15/lib/libpython3.6m.so.1.0")
#define DEBIAN311 "/usr/bin/python3.11"
/* Debian unstable's builds, in the root tests/pythons/debian_root.py made. */
#define SID(bin) GW_SID_ROOT "/usr/bin/" bin

/* Opens path, detects its build and resolves its layout. */
static int probe_build(const char *path, struct python_build *b)
{
	struct elf_file ef;
	int err;

	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(python_build__detect(&ef, path, b), 0);
	err = python_build__resolve_layout(&ef, b);
	elf_file__close(&ef);
	return err;
}

/* The build-id as readelf prints it, "" if none. */
static void readelf_build_id(const char *path, char hex[64])
{
	char cmd[512], line[256];
	FILE *p;

	hex[0] = '\0';
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		const char *s = strstr(line, "Build ID: ");

		if (s && sscanf(s + strlen("Build ID: "), "%63s", hex) == 1)
			break;
	}
	pclose(p);
}

static void assert_hex40(const char *s)
{
	size_t i;

	assert_int_equal(strlen(s), 40);
	for (i = 0; i < 40; i++)
		assert_true(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f'));
}

static void test_detect_pyenv(void **state)
{
	const struct {
		const char *path, *version;
		unsigned minor, micro;
	} cases[] = {
	    {LIB310, "3.10.13", 10, 13},
	    {LIB311, "3.11.7", 11, 7},
	    {LIB312, "3.12.1", 12, 1},
	    {LIB313, "3.13.0", 13, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct python_build b;
		char expect_id[64];

		assert_int_equal(probe_build(cases[i].path, &b), 0);
		assert_string_equal(b.version, cases[i].version);
		assert_int_equal(b.major, 3);
		assert_int_equal(b.minor, cases[i].minor);
		assert_int_equal(b.micro, cases[i].micro);
		assert_int_equal(b.layout.minor, cases[i].minor);
		assert_hex40(b.build_id);
		readelf_build_id(cases[i].path, expect_id);
		assert_string_equal(b.build_id, expect_id);
	}
}

static void test_detect_debian_static(void **state)
{
	struct python_build b;

	assert_int_equal(probe_build(DEBIAN311, &b), 0);
	assert_string_equal(b.version, "3.11.2");
	assert_int_equal(b.minor, 11);
	assert_int_equal(b.micro, 2);
	assert_hex40(b.build_id);
	/* 3.11: the GIL lives in _PyRuntime, offsets from the built-in table. */
	assert_int_equal(b.layout_from_debug_offsets, 0);
	assert_int_equal(b.layout.minor, 11);
	assert_int_equal(b.layout.runtime_gil, 360);
	assert_int_equal(b.layout.tstate_native_thread_id, 160);
}

/* Runs build/tests/layout-VERSION (tests/unit/layout_probe.c compiled
 * against that version's internal headers) and compares every offset.
 */
static void assert_layout_matches_headers(const char *lib, const char *version)
{
	char exe[4096], cmd[4200], key[64];
	const struct python_layout *l;
	struct python_build b;
	size_t value, seen = 0;
	ssize_t n;
	FILE *p;

	assert_int_equal(probe_build(lib, &b), 0);
	l = &b.layout;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "%s/layout-%s", exe, version);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fscanf(p, "%63s %zu", key, &value) == 2) {
		const struct {
			const char *name;
			uint64_t got;
		} fields[] = {
		    {"runtime_gil", l->runtime_gil},
		    {"interp_ceval_gil", l->interp_ceval_gil},
		    {"runtime_interp_head", l->runtime_interp_head},
		    {"runtime_head_lock", l->runtime_head_lock},
		    {"interp_gc_stats", l->interp_gc_stats},
		    {"gil_switch_number", l->gil_switch_number},
		    {"gil_last_holder", l->gil_last_holder},
		    {"gil_locked", l->gil_locked},
		    {"gil_cond", l->gil_cond},
		    {"tstate_thread_id", l->tstate_thread_id},
		    {"tstate_native_thread_id", l->tstate_native_thread_id},
		    {"interp_gc_collecting", l->interp_gc_collecting},
		    {"interp_threads_head", l->stack.interp_threads_head},
		    {"tstate_next", l->stack.tstate_next},
		    {"tstate_frame", l->stack.tstate_frame},
		    {"cframe_current_frame", l->stack.cframe_current_frame},
		    {"frame_via_cframe", l->stack.frame_via_cframe},
		    {"frame_previous", l->stack.frame_previous},
		    {"frame_code", l->stack.frame_code},
		    {"frame_instr", l->stack.frame_instr},
		    {"frame_owner", l->stack.frame_owner},
		    {"frame_owner_shim", l->stack.frame_owner_shim},
		    {"frame_code_tagged", l->stack.frame_code_tagged},
		    {"code_filename", l->stack.code_filename},
		    {"code_name", l->stack.code_name},
		    {"code_qualname", l->stack.code_qualname},
		    {"code_firstlineno", l->stack.code_firstlineno},
		    {"code_linetable", l->stack.code_linetable},
		    {"code_adaptive", l->stack.code_adaptive},
		    {"unicode_length", l->stack.unicode_length},
		    {"unicode_state", l->stack.unicode_state},
		    {"unicode_ascii_data", l->stack.unicode_ascii_data},
		    {"unicode_compact_data", l->stack.unicode_compact_data},
		    {"bytes_size", l->stack.bytes_size},
		    {"bytes_data", l->stack.bytes_data},
		};
		size_t i;

		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (strcmp(fields[i].name, key))
				continue;
			if (fields[i].got != value)
				fail_msg("%s: %s is %llu, headers say %zu", version, key,
					 (unsigned long long)fields[i].got, value);
			seen++;
		}
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(seen, 35);
}

static void test_layout_matches_headers(void **state)
{
	assert_layout_matches_headers(LIB310, "3.10.13");
	assert_layout_matches_headers(LIB311, "3.11.7");
	assert_layout_matches_headers(LIB312, "3.12.1");
	/* From _Py_DebugOffsets, converted: must agree with the headers too. */
	assert_layout_matches_headers(LIB313, "3.13.0");
	assert_layout_matches_headers(SID("python3.13"), "debian-3.13");
	assert_layout_matches_headers(SID("python3.14"), "debian-3.14");
	assert_layout_matches_headers(SID("python3.14d"), "debian-3.14d");
	assert_layout_matches_headers(SID("python3.15"), "debian-3.15");
	assert_layout_matches_headers(SID("python3.15d"), "debian-3.15d");
}

/* 3.13.18, 3.14.10, 3.15.2: each read from its own table. */
static void test_detect_debian_unstable(void **state)
{
	static const struct {
		const char *path;
		unsigned minor;
	} cases[] = {
	    {SID("python3.13"), 13}, {SID("python3.14"), 14},  {SID("python3.14d"), 14},
	    {SID("python3.15"), 15}, {SID("python3.15d"), 15},
	};
	struct python_build b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(probe_build(cases[i].path, &b), 0);
		assert_int_equal(b.minor, cases[i].minor);
		assert_int_equal(b.layout.minor, cases[i].minor);
		assert_int_equal(b.layout_from_debug_offsets, 1);
		assert_false(b.free_threaded);
	}
}

/* A copy of path named name in /tmp, with the 8-byte word at word of its
 * _Py_DebugOffsets set to value.
 */
static const char *patched_copy(const char *path, const char *name, size_t word, uint64_t value,
				char *out, size_t len)
{
	struct elf_symbol runtime;
	struct elf_file ef;
	uint64_t off;
	char cmd[4200];
	FILE *f;

	snprintf(out, len, "/tmp/gilwatch-test-%d-%s", getpid(), name);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, out);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(elf_file__open(&ef, out), 0);
	assert_int_equal(elf_file__find_symbol(&ef, "_PyRuntime", &runtime), 0);
	assert_int_equal(elf_file__vaddr_to_offset(&ef, runtime.vaddr, &off), 0);
	elf_file__close(&ef);
	f = fopen(out, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(off + word * 8), SEEK_SET), 0);
	assert_int_equal(fwrite(&value, sizeof(value), 1, f), 1);
	fclose(f);
	return out;
}

/* A free-threaded 3.14t is refused, and a 3.16 whose table is not known. */
static void test_refused_from_debug_offsets(void **state)
{
	struct python_build b;
	char copy[256];

	patched_copy(SID("python3.14"), "python3.14", 2, 1, copy, sizeof(copy)); /* free_threaded */
	assert_int_equal(probe_build(copy, &b), -EPROTONOSUPPORT);
	assert_true(b.free_threaded);
	assert_false(b.layout_unknown);
	assert_int_equal(b.minor, 14);
	unlink(copy);
	patched_copy(SID("python3.14"), "python3.14", 1, 0x031000f0, copy, sizeof(copy));
	assert_int_equal(probe_build(copy, &b), -EPROTONOSUPPORT);
	assert_false(b.free_threaded);
	assert_true(b.layout_unknown);
	assert_int_equal(b.minor, 16);
	unlink(copy);
	/* The ABI suffix says so too, whatever the table says. */
	patched_copy(SID("python3.14"), "python3.14t", 2, 0, copy, sizeof(copy));
	assert_int_equal(probe_build(copy, &b), -EPROTONOSUPPORT);
	assert_true(b.free_threaded);
	unlink(copy);
}

static void test_layout_313_from_debug_offsets(void **state)
{
	struct python_build b;

	assert_int_equal(probe_build(LIB313, &b), 0);
	assert_int_equal(b.layout_from_debug_offsets, 1);
	assert_int_equal(b.layout.minor, 13);
	assert_int_equal(b.layout.runtime_gil, 0);
	assert_int_equal(b.layout.runtime_interp_head, 632);
	assert_int_equal(b.layout.interp_ceval_gil, 16);
	assert_int_equal(b.layout.gil_locked, 16);
	assert_int_equal(b.layout.gil_last_holder, 8);
	assert_int_equal(b.layout.tstate_native_thread_id, 160);
}

/* A 3.13 build without the debug table is refused: hand tables are only
 * for 3.10-3.12. Pretend the 3.12 library (no cookie) is a 3.13.
 */
static void test_layout_313_without_table(void **state)
{
	struct python_build b;
	struct elf_file ef;

	assert_int_equal(elf_file__open(&ef, LIB312), 0);
	assert_int_equal(python_build__detect(&ef, LIB312, &b), 0);
	b.minor = 13;
	assert_int_equal(python_build__resolve_layout(&ef, &b), -EPROTONOSUPPORT);
	assert_false(b.layout_unknown);
	/* A minor gilwatch has no table for. */
	b.minor = 9;
	assert_int_equal(python_build__resolve_layout(&ef, &b), -EPROTONOSUPPORT);
	elf_file__close(&ef);
}

static void test_unsupported(void **state)
{
	static const struct {
		const char *rel; /* under pyenv's versions/ */
		unsigned major, minor;
	} cases[] = {
	    {"2.7.18/lib/libpython2.7.so.1.0", 2, 7},
	    {"3.6.15/lib/libpython3.6m.so.1.0", 3, 6},
	    {"3.7.16/lib/libpython3.7m.so.1.0", 3, 7},
	    {"3.9.18/lib/libpython3.9.so.1.0", 3, 9},
	};
	struct python_build b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(probe_build(pyenv_path(cases[i].rel), &b), -EPROTONOSUPPORT);
		assert_int_equal(b.major, cases[i].major);
		assert_int_equal(b.minor, cases[i].minor);
	}
	/* Detection still names them for the error message. */
	assert_int_equal(probe_build(LIB27, &b), -EPROTONOSUPPORT);
	assert_string_equal(b.version, "2.7.18");
	assert_int_equal(probe_build(LIB36, &b), -EPROTONOSUPPORT);
	assert_string_equal(b.version, "3.6.15");
}

static void test_version_from_filename(void **state)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} ok[] = {
	    {"python3.10", 3, 10},
	    {"libpython3.6m.so.1.0", 3, 6},
	    {"/usr/bin/python3.11", 3, 11},
	    {"libpython2.7.so", 2, 7},
	    {"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0", 3, 13},
	    {"/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0", 3, 12},
	    {"python3.13t", 3, 13},
	};
	static const char *const bad[] = {
	    "python",	       "python3",
	    "/usr/bin/python", "/opt/python3.12/bin/python", /* only the base name counts */
	    "libc.so.6",       "",
	    "python.3",	       "pythonX.Y",
	};
	unsigned major, minor;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		major = minor = 99;
		assert_int_equal(python_version__from_filename(ok[i].name, &major, &minor), 0);
		assert_int_equal(major, ok[i].major);
		assert_int_equal(minor, ok[i].minor);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(python_version__from_filename(bad[i], &major, &minor), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect_pyenv),
	    cmocka_unit_test(test_detect_debian_static),
	    cmocka_unit_test(test_layout_matches_headers),
	    cmocka_unit_test(test_layout_313_from_debug_offsets),
	    cmocka_unit_test(test_layout_313_without_table),
	    cmocka_unit_test(test_detect_debian_unstable),
	    cmocka_unit_test(test_refused_from_debug_offsets),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_version_from_filename),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
