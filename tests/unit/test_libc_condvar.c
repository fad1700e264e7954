// SPDX-License-Identifier: MIT
/* Where the machine's glibc sleeps in pthread_cond_timedwait(): a direct
 * call inside the function, between the cleanup push and pop, found by
 * disassembly; a file without that shape is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf_file.h"
#include "libc_condvar.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static uint8_t byte_at(uint64_t offset)
{
	uint8_t b = 0;
	int fd = open(LIBC, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, offset), 1);
	close(fd);
	return b;
}

static void test_machine_libc(void **state)
{
	struct condvar_sleep sleep;
	struct elf_symbol fn;
	struct elf_file ef;
	uint64_t fn_offset;

	assert_int_equal(elf_file__open(&ef, LIBC), 0);
	assert_int_equal(libc_condvar__find_sleep(&ef, &sleep), 0);
	assert_int_equal(elf_file__find_symbol(&ef, "pthread_cond_timedwait", &fn), 0);
	fn_offset = fn.file_offset;
	elf_file__close(&ef);
	/* Inside the function, a direct call (e8 rel32) of 5 bytes. */
	assert_true(sleep.call_offset > fn_offset && sleep.call_offset < fn_offset + fn.size);
	assert_int_equal(byte_at(sleep.call_offset), 0xe8);
	assert_int_equal(sleep.after_offset, sleep.call_offset + 5);
}

static void test_no_condvar(void **state)
{
	struct condvar_sleep sleep;
	struct elf_file ef;

	/* No pthread_cond_timedwait of its own. */
	assert_int_equal(elf_file__open(&ef, "/usr/bin/python3.11"), 0);
	assert_int_equal(libc_condvar__find_sleep(&ef, &sleep), -ENOENT);
	elf_file__close(&ef);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_machine_libc),
	    cmocka_unit_test(test_no_condvar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
