// SPDX-License-Identifier: MIT
/* The threading lock types' functions found from their method tables and
 * slots (lock_type.h), checked against the symbol tables of the builds that
 * keep them (pyenv's 3.13.0, Debian unstable's 3.14d and 3.15d), and found
 * in the stripped, profile-optimized python3.13/3.14/3.15 beside them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "elf_file.h"
#include "lock_type.h"
#include "pyenv_root.h"

#define SID(bin) GW_SID_ROOT "/usr/bin/" bin
#define LOCK "locked_lock"
#define RLOCK "_release_save"

struct want {
	const char *anchor, *method;
	int slot;
	const char *symbol; /* the function's name in the build's symbol table */
};

static uint64_t found(struct elf_file *ef, const struct want *w)
{
	struct elf_symbol sym;

	assert_int_equal(lock_type__function(ef, w->anchor, w->method, w->slot, &sym), 0);
	assert_true(sym.size > 0);
	return sym.vaddr;
}

static void check_build(const char *path, const struct want *w, size_t n)
{
	uint64_t vaddr, size;
	struct elf_file ef;
	size_t i;

	assert_int_equal(elf_file__open(&ef, path), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(elf_file__find_symtab(&ef, w[i].symbol, &vaddr, &size), 0);
		if (found(&ef, &w[i]) != vaddr)
			fail_msg("%s: %s %s is not %s", path, w[i].anchor,
				 w[i].method ? w[i].method : "slot", w[i].symbol);
	}
	elf_file__close(&ef);
}

static void test_3_13_0(void **state)
{
	static const struct want w[] = {
	    {LOCK, "acquire", 0, "lock_PyThread_acquire_lock"},
	    {LOCK, "__enter__", 0, "lock_PyThread_acquire_lock"},
	    {LOCK, "release", 0, "lock_PyThread_release_lock"},
	    {LOCK, "__exit__", 0, "lock_PyThread_release_lock"},
	    {LOCK, NULL, LOCK_TYPE_TP_NEW, "lock_new"},
	    {LOCK, NULL, LOCK_TYPE_TP_DEALLOC, "lock_dealloc"},
	    {"allocate_lock", "allocate_lock", 0, "thread_PyThread_allocate_lock"},
	    {RLOCK, "_acquire_restore", 0, "rlock_acquire_restore"},
	};

	check_build(pyenv_path("3.13.0/lib/libpython3.13.so.1.0"), w, sizeof(w) / sizeof(w[0]));
}

static void test_3_14_debug(void **state)
{
	static const struct want w[] = {
	    {LOCK, "acquire", 0, "lock_PyThread_acquire_lock"},
	    {LOCK, "__exit__", 0, "lock_PyThread_release_lock"},
	    {LOCK, NULL, LOCK_TYPE_TP_NEW, "lock_new"},
	    {RLOCK, "acquire", 0, "rlock_acquire"},
	    {RLOCK, "__enter__", 0, "rlock_acquire"},
	    {RLOCK, "release", 0, "rlock_release"},
	    {RLOCK, "_release_save", 0, "rlock_release_save"},
	    {RLOCK, NULL, LOCK_TYPE_TP_NEW, "rlock_new"},
	    {RLOCK, NULL, LOCK_TYPE_TP_DEALLOC, "rlock_dealloc"},
	};

	check_build(SID("python3.14d"), w, sizeof(w) / sizeof(w[0]));
}

/* 3.15's Argument Clinic gives __enter__ and __exit__ wrappers of their own. */
static void test_3_15_debug(void **state)
{
	static const struct want w[] = {
	    {LOCK, "acquire", 0, "_thread_lock_acquire"},
	    {LOCK, "__enter__", 0, "_thread_lock___enter__"},
	    {LOCK, "release", 0, "_thread_lock_release"},
	    {LOCK, "__exit__", 0, "_thread_lock___exit__"},
	    {RLOCK, "__exit__", 0, "_thread_RLock___exit__"},
	    {RLOCK, "_acquire_restore", 0, "_thread_RLock__acquire_restore"},
	    {RLOCK, NULL, LOCK_TYPE_TP_NEW, "rlock_new"},
	};

	check_build(SID("python3.15d"), w, sizeof(w) / sizeof(w[0]));
}

/* Stripped: every function found, acquire's and __enter__'s one function
 * up to 3.14 and two in 3.15, and no method mistaken for a slot.
 */
static void test_stripped(void **state)
{
	static const struct {
		const char *bin;
		bool enter_is_acquire;
	} builds[] = {
	    {SID("python3.13"), true}, {SID("python3.14"), true}, {SID("python3.15"), false}};
	const struct want acquire = {LOCK, "acquire", 0, NULL},
			  enter = {LOCK, "__enter__", 0, NULL},
			  release = {LOCK, "release", 0, NULL},
			  tp_new = {LOCK, NULL, LOCK_TYPE_TP_NEW, NULL},
			  tp_dealloc = {LOCK, NULL, LOCK_TYPE_TP_DEALLOC, NULL},
			  allocate = {"allocate_lock", "allocate_lock", 0, NULL};
	struct elf_file ef;
	uint64_t a, e, r, n, d;
	size_t i;

	for (i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		assert_int_equal(elf_file__open(&ef, builds[i].bin), 0);
		a = found(&ef, &acquire);
		e = found(&ef, &enter);
		r = found(&ef, &release);
		n = found(&ef, &tp_new);
		d = found(&ef, &tp_dealloc);
		assert_int_equal(a == e, builds[i].enter_is_acquire);
		assert_true(a != r && n != d && n != a && d != r);
		assert_true(found(&ef, &allocate) != n);
		elf_file__close(&ef);
	}
}

static void test_not_found(void **state)
{
	struct elf_symbol sym;
	struct elf_file ef;

	assert_int_equal(elf_file__open(&ef, SID("python3.14")), 0);
	assert_int_not_equal(lock_type__function(&ef, LOCK, "no_such_method", 0, &sym), 0);
	assert_int_not_equal(lock_type__function(&ef, "no_such_anchor", "acquire", 0, &sym), 0);
	/* 3.12's lock type has no tp_new: it cannot be made from Python. */
	elf_file__close(&ef);
	assert_int_equal(elf_file__open(&ef, pyenv_path("3.12.1/lib/libpython3.12.so.1.0")), 0);
	assert_int_not_equal(lock_type__function(&ef, LOCK, NULL, LOCK_TYPE_TP_NEW, &sym), 0);
	elf_file__close(&ef);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_3_13_0),     cmocka_unit_test(test_3_14_debug),
	    cmocka_unit_test(test_3_15_debug), cmocka_unit_test(test_stripped),
	    cmocka_unit_test(test_not_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
