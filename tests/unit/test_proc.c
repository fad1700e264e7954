// SPDX-License-Identifier: MIT
/* /proc parsing and process memory reads, on canned lines and on this
 * test process itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "discover.h"
#include "proc.h"

static void test_parse_mapping_file(void **state)
{
	struct proc_mapping m;

	assert_int_equal(proc__parse_mapping("7f2c1a400000-7f2c1a5a0000 r-xp 00106000 fe:00 1835019"
					     "                    /usr/lib/libpython3.12.so.1.0\n",
					     &m),
			 0);
	assert_int_equal(m.start, 0x7f2c1a400000ULL);
	assert_int_equal(m.end, 0x7f2c1a5a0000ULL);
	assert_int_equal(m.pgoff, 0x106000);
	assert_string_equal(m.perms, "r-xp");
	assert_string_equal(m.path, "/usr/lib/libpython3.12.so.1.0");

	/* No trailing newline; non-PIE address; big inode. */
	assert_int_equal(proc__parse_mapping("00400000-0041f000 r--p 00000000 08:01 12345678901 "
					     "/usr/bin/python3.11",
					     &m),
			 0);
	assert_int_equal(m.start, 0x400000);
	assert_int_equal(m.pgoff, 0);
	assert_string_equal(m.perms, "r--p");
	assert_string_equal(m.path, "/usr/bin/python3.11");

	/* Shared mapping, top of the address space. */
	assert_int_equal(
	    proc__parse_mapping("ffffffff00000000-ffffffff00001000 rw-s 0000a000 00:1a 7 "
				"/dev/shm/gw\n",
				&m),
	    0);
	assert_int_equal(m.start, 0xffffffff00000000ULL);
	assert_int_equal(m.pgoff, 0xa000);
	assert_string_equal(m.perms, "rw-s");
	assert_string_equal(m.path, "/dev/shm/gw");
}

static void test_parse_mapping_spaces(void **state)
{
	struct proc_mapping m;

	assert_int_equal(proc__parse_mapping("7f0000000000-7f0000001000 r--p 00000000 fe:00 42     "
					     "   /opt/My Apps/python 3/lib/libpython3.11.so.1.0\n",
					     &m),
			 0);
	assert_string_equal(m.path, "/opt/My Apps/python 3/lib/libpython3.11.so.1.0");
	/* A trailing space belongs to the file name. */
	assert_int_equal(proc__parse_mapping("1000-2000 r--p 00000000 fe:00 42 /tmp/x \n", &m), 0);
	assert_string_equal(m.path, "/tmp/x ");
}

static void test_parse_mapping_rejected(void **state)
{
	static const char *const lines[] = {
	    /* anonymous, with and without the padding */
	    "7f2c1a400000-7f2c1a5a0000 rw-p 00000000 00:00 0 \n",
	    "7f2c1a400000-7f2c1a5a0000 rw-p 00000000 00:00 0\n",
	    "7f2c1a400000-7f2c1a5a0000 rw-p 00000000 00:00 0",
	    "55980cbae000-55980cbcf000 rw-p 00000000 00:00 0                          [heap]\n",
	    "7ffea7268000-7ffea7289000 rw-p 00000000 00:00 0                          [stack]\n",
	    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
	    "7f0000000000-7f0000001000 rw-s 00000000 00:0f 1053 anon_inode:[perf_event]\n",
	    /* replaced on disk */
	    "7f0000000000-7f0000001000 r-xp 00000000 fe:00 42 /usr/lib/libpython3.12.so.1.0 "
	    "(deleted)\n",
	    "7f0000000000-7f0000001000 r-xp 00000000 00:01 9 /memfd:jit (deleted)\n",
	    /* malformed */
	    "",
	    "\n",
	    "7f0000000000-7f0000001000 r-xp",
	    "7f0000000000 r-xp 00000000 fe:00 42 /usr/bin/python3",
	    "zzzz-7f0000001000 r-xp 00000000 fe:00 42 /usr/bin/python3",
	};
	struct proc_mapping m;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (proc__parse_mapping(lines[i], &m) != -EINVAL)
			fail_msg("accepted: '%s'", lines[i]);
	}
}

static void test_parse_pid(void **state)
{
	static const char *const bad[] = {
	    "0", "-1", "abc", "12x", "", "99999999999", "2147483648", "1.5", "0x10",
	};
	pid_t pid;
	size_t i;

	assert_int_equal(proc__parse_pid("123", &pid), 0);
	assert_int_equal(pid, 123);
	assert_int_equal(proc__parse_pid("1", &pid), 0);
	assert_int_equal(pid, 1);
	assert_int_equal(proc__parse_pid("2147483647", &pid), 0);
	assert_int_equal(pid, 2147483647);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pid = 77;
		if (proc__parse_pid(bad[i], &pid) != -EINVAL)
			fail_msg("accepted pid '%s'", bad[i]);
		assert_int_equal(pid, 77);
	}
}

static pthread_barrier_t named, done;
static pid_t worker_tid;

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "gw-worker");
	worker_tid = gettid();
	pthread_barrier_wait(&named);
	pthread_barrier_wait(&done);
	return NULL;
}

static void test_comm(void **state)
{
	char name[16], expect[16] = "";
	pthread_t th;

	assert_int_equal(prctl(PR_GET_NAME, expect), 0);
	assert_string_equal(expect, "test_proc");
	assert_int_equal(proc__comm(getpid(), getpid(), name, sizeof(name)), 0);
	assert_string_equal(name, expect);
	/* Truncated to the buffer, never overflowing it. */
	assert_int_equal(proc__comm(getpid(), getpid(), name, 5), 0);
	assert_string_equal(name, "test");

	pthread_barrier_init(&named, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	assert_int_equal(pthread_create(&th, NULL, worker, NULL), 0);
	pthread_barrier_wait(&named);
	assert_int_equal(proc__comm(getpid(), worker_tid, name, sizeof(name)), 0);
	assert_string_equal(name, "gw-worker");
	pthread_barrier_wait(&done);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&named);
	pthread_barrier_destroy(&done);

	/* The thread is gone, and so is a pid that cannot exist. */
	assert_int_equal(proc__comm(getpid(), worker_tid, name, sizeof(name)), -ENOENT);
	assert_int_equal(proc__comm(INT_MAX, INT_MAX, name, sizeof(name)), -ENOENT);
}

/* A zombie has exited too: its maps are gone. */
static void test_exited(void **state)
{
	pid_t child;
	int status;

	assert_false(proc__exited(getpid()));
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	usleep(100000);
	assert_true(proc__exited(child)); /* not reaped yet */
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(proc__exited(child));
	assert_true(proc__exited(INT_MAX));
	assert_int_equal(proc__tgid(getpid()), getpid());
}

static void test_root_path(void **state)
{
	char out[64];

	proc__root_path(123, "/usr/lib/libc.so.6", out, sizeof(out));
	assert_string_equal(out, "/proc/123/root/usr/lib/libc.so.6");
	proc__root_path(123, "/usr/lib/libc.so.6", out, 12);
	assert_string_equal(out, "/proc/123/r");
}

/* A chrooted process's maps show its files under its root directory. */
static void test_root_path_chrooted(void **state)
{
	char dir[] = "/tmp/gw-chroot-XXXXXX", path[PATH_MAX], out[PATH_MAX], want[PATH_MAX];
	int ready[2];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		if (chroot(dir))
			_exit(1);
		write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], out, 1), 1);
	snprintf(path, sizeof(path), "%s/usr/lib/libc.so.6", dir);
	proc__root_path(pid, path, out, sizeof(out));
	snprintf(want, sizeof(want), "/proc/%d/root/usr/lib/libc.so.6", pid);
	assert_string_equal(out, want);
	/* A path that only shares a prefix with the root stays whole. */
	snprintf(path, sizeof(path), "%sx/lib", dir);
	proc__root_path(pid, path, out, sizeof(out));
	snprintf(want, sizeof(want), "/proc/%d/root%sx/lib", pid, dir);
	assert_string_equal(out, want);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	rmdir(dir);
}

static void test_cmdline_and_filter(void **state)
{
	struct process_filter f = {};
	char cmdline[4096];

	assert_int_equal(proc__cmdline(getpid(), cmdline, sizeof(cmdline)), 0);
	assert_non_null(strstr(cmdline, "test_proc"));
	assert_int_equal(proc__cmdline(INT_MAX, cmdline, sizeof(cmdline)), -ENOENT);
	assert_true(process_filter__accepts(&f, getpid()));
	assert_int_equal(process_filter__set(&f, false, "test_pro[c]"), 0);
	assert_true(process_filter__accepts(&f, getpid()));
	assert_int_equal(process_filter__set(&f, true, "test_"), 0);
	assert_false(process_filter__accepts(&f, getpid())); /* --exclude wins */
	assert_int_equal(process_filter__set(&f, true, "no-such-thing"), 0);
	assert_true(process_filter__accepts(&f, getpid()));
	assert_false(process_filter__accepts(&f, INT_MAX)); /* gone: not selected */
	assert_int_equal(process_filter__set(&f, false, "(unclosed"), -EINVAL);
	assert_true(process_filter__accepts(&f, getpid())); /* only --exclude left */
	process_filter__free(&f);
}

static void test_read_mem(void **state)
{
	volatile uint64_t local = 0x1122334455667788ULL;
	unsigned char *big, *copy;
	const size_t pg = sysconf(_SC_PAGESIZE);
	uint64_t got = 0;
	char *two;
	size_t i;

	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)&local, &got, sizeof(got)), 0);
	assert_int_equal(got, 0x1122334455667788ULL);
	local = 42;
	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)&local, &got, sizeof(got)), 0);
	assert_int_equal(got, 42);

	/* Several pages at once. */
	big = malloc(5 * pg);
	copy = calloc(1, 5 * pg);
	assert_non_null(big);
	assert_non_null(copy);
	for (i = 0; i < 5 * pg; i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)big, copy, 5 * pg), 0);
	assert_memory_equal(big, copy, 5 * pg);
	free(big);
	free(copy);

	/* Unmapped memory, and a read that runs off the end of a mapping. */
	assert_true(proc__read_mem(getpid(), 0, &got, sizeof(got)) < 0);
	assert_true(proc__read_mem(getpid(), 0xfffffffffff00000ULL, &got, sizeof(got)) < 0);
	two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(two != MAP_FAILED);
	assert_int_equal(munmap(two + pg, pg), 0);
	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)two + pg - 4, &got, 4), 0);
	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)two + pg - 4, &got, 8), -EFAULT);
	assert_int_equal(proc__read_mem(getpid(), (uintptr_t)two + pg, &got, 8), -EFAULT);
	munmap(two, pg);

	assert_int_equal(proc__read_mem(INT_MAX, (uintptr_t)&got, &got, sizeof(got)), -ESRCH);
}

struct walk {
	char exe[PATH_MAX];
	int calls, exe_at_zero;
	int stop_after;
};

static int on_mapping(const struct proc_mapping *m, void *ctx)
{
	struct walk *w = ctx;

	w->calls++;
	assert_true(m->start < m->end);
	assert_int_equal(m->path[0], '/');
	assert_int_equal(strlen(m->perms), 4);
	if (!strcmp(m->path, w->exe) && m->pgoff == 0 && m->perms[0] == 'r')
		w->exe_at_zero++;
	return w->calls == w->stop_after ? 42 : 0;
}

static void test_for_each_mapping_self(void **state)
{
	struct walk w = {.stop_after = -1};
	ssize_t n;

	n = readlink("/proc/self/exe", w.exe, sizeof(w.exe) - 1);
	assert_true(n > 0);
	w.exe[n] = '\0';
	assert_non_null(strstr(w.exe, "test_proc"));

	assert_int_equal(proc__for_each_mapping(getpid(), on_mapping, &w), 0);
	assert_int_equal(w.exe_at_zero, 1);
	/* The binary, libc, libelf, libbpf, cmocka, ld.so at least. */
	assert_true(w.calls >= 6);

	/* A non-zero return stops the walk and is passed through. */
	memset(&w.calls, 0, sizeof(w) - offsetof(struct walk, calls));
	w.stop_after = 2;
	assert_int_equal(proc__for_each_mapping(getpid(), on_mapping, &w), 42);
	assert_int_equal(w.calls, 2);

	assert_int_equal(proc__for_each_mapping(INT_MAX, on_mapping, &w), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mapping_file),
	    cmocka_unit_test(test_parse_mapping_spaces),
	    cmocka_unit_test(test_parse_mapping_rejected),
	    cmocka_unit_test(test_parse_pid),
	    cmocka_unit_test(test_comm),
	    cmocka_unit_test(test_exited),
	    cmocka_unit_test(test_root_path),
	    cmocka_unit_test(test_root_path_chrooted),
	    cmocka_unit_test(test_cmdline_and_filter),
	    cmocka_unit_test(test_read_mem),
	    cmocka_unit_test(test_for_each_mapping_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
