// SPDX-License-Identifier: MIT
/* Native stacks of a forked child blocked in read() under
 * chain_a -> chain_b -> chain_c, unwound with CFI (this file is built at
 * -O2: no frame pointers), live and from a stack copy; the child must run on
 * untouched. Also the depth limit, a thread that cannot stop (vfork wait),
 * hostile snapshots and bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "native_stack.h"
#include "proc.h"

#define SNAP_LEN (16 * 1024)

static volatile int sink;

/* noipa: no inlining, cloning (a renamed chain_c.constprop) or merging; the
 * work after each call keeps it from becoming a tail call, which would drop
 * the caller's frame.
 */
__attribute__((noipa)) static int chain_c(int in, int out)
{
	char c = 'r';

	if (write(out, &c, 1) != 1)
		_exit(1);
	for (;;) {
		if (read(in, &c, 1) != 1)
			_exit(0);
		if (write(out, &c, 1) != 1)
			_exit(1);
	}
}

__attribute__((noipa)) static int chain_b(int in, int out)
{
	int r = chain_c(in, out);

	sink += r;
	return r;
}

__attribute__((noipa)) static int chain_a(int in, int out)
{
	int r = chain_b(in, out);

	sink += r;
	return r;
}

__attribute__((noipa)) static int deep(int depth, int in, int out)
{
	int r = depth ? deep(depth - 1, in, out) : chain_a(in, out);

	sink += r;
	return r;
}

struct child {
	pid_t pid;
	int cmd;  /* a byte written here is echoed on resp */
	int resp; /* 'r' once chain_c is reached */
	int gate; /* vfork_first: releases the vfork child */
};

static int gate_fn(void *arg)
{
	char c;

	return read(*(int *)arg, &c, 1) == 1 ? 0 : 1;
}

static int read_byte(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return c;
}

static char state_of(pid_t pid)
{
	char buf[64];

	return proc__stat(pid, pid, buf, sizeof(buf)) ? '?' : buf[0];
}

static char wait_state(pid_t pid, char want)
{
	uint64_t deadline = monotonic_ns() + 2000000000ull;
	char s;

	while ((s = state_of(pid)) != want && monotonic_ns() < deadline)
		usleep(1000);
	return s;
}

/* vfork_first: the child first waits in a CLONE_VFORK clone (killable, not
 * interruptible: a ptrace interrupt cannot stop it) until c->gate is written.
 */
static void start_child(struct child *c, int depth, bool vfork_first)
{
	static char gate_stack[64 * 1024];
	int cmd[2], resp[2], gate[2];

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(resp), 0);
	assert_int_equal(pipe(gate), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(cmd[1]);
		close(resp[0]);
		close(gate[1]);
		if (vfork_first && clone(gate_fn, gate_stack + sizeof(gate_stack),
					 CLONE_VFORK | SIGCHLD, &gate[0]) < 0)
			_exit(1);
		deep(depth, cmd[0], resp[1]);
		_exit(0);
	}
	close(cmd[0]);
	close(resp[1]);
	close(gate[0]);
	c->cmd = cmd[1];
	c->resp = resp[0];
	c->gate = gate[1];
	if (vfork_first) {
		assert_int_equal(wait_state(c->pid, 'D'), 'D');
		return;
	}
	assert_int_equal(read_byte(c->resp, 5000), 'r');
	assert_int_equal(wait_state(c->pid, 'S'), 'S');
}

static void stop_child(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	close(c->cmd);
	close(c->resp);
	close(c->gate);
}

/* Sleeping again in read(), not left stopped, and it still answers. */
static void assert_runs_on(struct child *c)
{
	assert_int_equal(wait_state(c->pid, 'S'), 'S');
	assert_int_equal(write(c->cmd, "x", 1), 1);
	assert_int_equal(read_byte(c->resp, 2000), 'x');
	assert_int_equal(wait_state(c->pid, 'S'), 'S');
}

static void print_stack(const struct native_stack *st)
{
	unsigned i;

	print_message("%u frames%s\n", st->n, st->truncated ? ", truncated" : "");
	for (i = 0; i < st->n; i++)
		print_message("  #%-2u %#" PRIx64 " %s+%#" PRIx64 " (%s)\n", i, st->f[i].ip,
			      st->f[i].symbol, st->f[i].offset, st->f[i].module);
}

/* chain_c, chain_b, chain_a, main in this order, each chain_* frame at the
 * very function of this binary (the child is a fork: same addresses).
 */
static void assert_chain(const struct native_stack *st)
{
	static const char *const want[] = {"chain_c", "chain_b", "chain_a", "main"};
	const uintptr_t fn[] = {(uintptr_t)chain_c, (uintptr_t)chain_b, (uintptr_t)chain_a};
	char exe[PATH_MAX] = "";
	unsigned i, k = 0;

	assert_true(readlink("/proc/self/exe", exe, sizeof(exe) - 1) > 0);
	for (i = 0; i < st->n && k < 4; i++) {
		if (strcmp(st->f[i].symbol, want[k]))
			continue;
		assert_string_equal(st->f[i].module, strrchr(exe, '/') + 1);
		if (k < 3)
			assert_int_equal(st->f[i].ip - st->f[i].offset, fn[k]);
		k++;
	}
	if (k != 4)
		print_stack(st);
	assert_int_equal(k, 4);
	/* Stopped in the read() system call. */
	assert_string_equal(st->f[0].module, "libc.so.6");
}

static void test_live_thread(void **state)
{
	struct native_unwinder *u;
	struct native_stack st;
	struct child c;
	int round;

	start_child(&c, 0, false);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	for (round = 0; round < 3; round++) {
		/* The same Dwfl serves every call; a refresh keeps it usable. */
		if (round == 2)
			assert_int_equal(native_unwinder__refresh(u), 0);
		memset(&st, 0xa5, sizeof(st));
		assert_int_equal(native_unwinder__thread(u, c.pid, &st), 0);
		assert_chain(&st);
		/* It ends at _start, whose CFI marks the return address undefined. */
		assert_int_equal(st.truncated, 0);
		assert_string_equal(st.f[st.n - 1].symbol, "_start");
		assert_runs_on(&c);
		assert_int_equal(read_byte(c.resp, 0), -1);
	}
	native_unwinder__free(u);
	stop_child(&c);
}

/* What a BPF program would take at an event: registers and the stack. */
static size_t capture(pid_t pid, struct gw_user_regs *regs, void *buf, size_t len)
{
	struct user_regs_struct r;
	struct iovec local = {buf, len}, remote;
	int status;
	ssize_t n;

	assert_int_equal(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
	assert_int_equal(waitpid(pid, &status, __WALL), pid);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(ptrace(PTRACE_GETREGS, pid, NULL, &r), 0);
	remote.iov_base = (void *)r.rsp;
	remote.iov_len = len;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	assert_int_equal(ptrace(PTRACE_DETACH, pid, NULL, NULL), 0);
	assert_true(n > 0);
	*regs = (struct gw_user_regs){.ip = r.rip,
				      .sp = r.rsp,
				      .bp = r.rbp,
				      .bx = r.rbx,
				      .r12 = r.r12,
				      .r13 = r.r13,
				      .r14 = r.r14,
				      .r15 = r.r15};
	return n;
}

static void test_snapshot(void **state)
{
	static uint8_t stack[SNAP_LEN];
	struct native_unwinder *u, *late;
	struct gw_user_regs regs;
	struct native_stack st;
	struct child c;
	size_t len;

	start_child(&c, 0, false);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	assert_int_equal(native_unwinder__new(c.pid, &late), 0);
	len = capture(c.pid, &regs, stack, sizeof(stack));
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, stack, len, regs.sp, &st), 0);
	assert_chain(&st);
	assert_runs_on(&c);

	/* With the process gone the copy alone carries the unwind to main... */
	stop_child(&c);
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, stack, len, regs.sp, &st), 0);
	assert_chain(&st);
	/* ...also when the modules are first loaded now (a crash in a process
	 * never unwound before), and loaded again after a trim: the gone
	 * process's refresh keeps them.
	 */
	assert_int_equal(native_unwinder__refresh(late), -ESRCH);
	assert_int_equal(native_unwinder__snapshot(late, c.pid, &regs, stack, len, regs.sp, &st),
			 0);
	assert_chain(&st);
	native_unwinder__trim(late, 0);
	assert_int_equal(native_unwinder__refresh(late), -ESRCH);
	assert_int_equal(native_unwinder__snapshot(late, c.pid, &regs, stack, len, regs.sp, &st),
			 0);
	assert_chain(&st);
	native_unwinder__free(late);
	/* ...and without a copy it stops at once, truncated. */
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, NULL, 0, 0, &st), 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.truncated, 1);
	assert_int_equal(st.f[0].ip, regs.ip);
	assert_string_equal(st.f[0].module, "libc.so.6");
	native_unwinder__free(u);
}

static void test_depth_limit(void **state)
{
	struct native_unwinder *u;
	struct native_stack st;
	struct child c;
	unsigned i;

	start_child(&c, 100, false);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	assert_int_equal(native_unwinder__thread(u, c.pid, &st), 0);
	assert_int_equal(st.n, NATIVE_STACK_DEPTH);
	assert_int_equal(st.truncated, 1);
	for (i = 0; i < 4 && strcmp(st.f[i].symbol, "chain_c"); i++)
		;
	assert_string_equal(st.f[i + 1].symbol, "chain_b");
	assert_string_equal(st.f[i + 2].symbol, "chain_a");
	assert_string_equal(st.f[NATIVE_STACK_DEPTH - 1].symbol, "deep");
	assert_runs_on(&c);
	native_unwinder__free(u);
	stop_child(&c);
}

/* A thread in a killable wait cannot be interrupted: -ETIMEDOUT in about
 * 100 ms. It stops later, when the wait ends, and the next call detaches it.
 */
static void test_stop_timeout(void **state)
{
	struct native_unwinder *u;
	struct native_stack st;
	struct child c;
	uint64_t t0;

	start_child(&c, 0, true);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	t0 = monotonic_ns();
	assert_int_equal(native_unwinder__thread(u, c.pid, &st), -ETIMEDOUT);
	assert_true(monotonic_ns() - t0 < 500000000ull);
	assert_int_equal(st.n, 0);

	assert_int_equal(write(c.gate, "g", 1), 1);
	assert_int_equal(wait_state(c.pid, 't'), 't');
	assert_int_equal(native_unwinder__refresh(u), 0);
	assert_int_equal(read_byte(c.resp, 5000), 'r');
	assert_runs_on(&c);
	assert_int_equal(native_unwinder__thread(u, c.pid, &st), 0);
	assert_chain(&st);
	assert_runs_on(&c);
	native_unwinder__free(u);
	stop_child(&c);
}

/* Garbage registers and stacks (loops, wild pointers) end bounded. */
static void test_hostile_snapshot(void **state)
{
	static uint64_t stack[SNAP_LEN / 8];
	const uint64_t base = 0x7ff000000000ull;
	struct native_unwinder *u;
	struct gw_user_regs regs;
	struct native_stack st;
	struct child c;
	unsigned i, round;
	int ret;

	start_child(&c, 0, false);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	srand(1);
	for (round = 0; round < 200; round++) {
		for (i = 0; i < SNAP_LEN / 8; i++) {
			switch (round % 4) {
			case 0: /* frames pointing back into themselves */
				stack[i] = base + (i * 8) % 64;
				break;
			case 1: /* return addresses into real code */
				stack[i] = (uintptr_t)chain_a + rand() % 256;
				break;
			case 2:
				stack[i] = ((uint64_t)rand() << 32) | (unsigned)rand();
				break;
			default:
				stack[i] = i & 1 ? (uintptr_t)deep + 20 : base + (i + 1) * 8;
			}
		}
		regs = (struct gw_user_regs){
		    .ip = round & 1 ? (uintptr_t)chain_b + rand() % 64 : stack[rand() % 16],
		    .sp = base + (rand() % 64) * 8,
		    .bp = base + (rand() % 64) * 8,
		};
		ret = native_unwinder__snapshot(u, c.pid, &regs, stack, sizeof(stack), base, &st);
		assert_true(ret == 0 || ret == -EIO);
		assert_true(st.n <= NATIVE_STACK_DEPTH);
	}
	/* Still good for real work afterwards. */
	assert_int_equal(native_unwinder__thread(u, c.pid, &st), 0);
	assert_chain(&st);
	assert_runs_on(&c);
	native_unwinder__free(u);
	stop_child(&c);
}

static void test_errors(void **state)
{
	struct native_unwinder *u = (void *)1;
	struct gw_user_regs regs = {0};
	struct native_stack st;
	struct child c;
	pid_t gone;

	gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	assert_int_equal(native_unwinder__new(gone, &u), -ESRCH);
	assert_null(u);
	assert_int_equal(native_unwinder__new(INT_MAX, &u), -ESRCH);
	assert_int_equal(native_unwinder__new(0, &u), -EINVAL);

	start_child(&c, 0, false);
	assert_int_equal(native_unwinder__new(c.pid, &u), 0);
	/* Threads that are not the child's. */
	assert_int_equal(native_unwinder__thread(u, getpid(), &st), -ESRCH);
	assert_int_equal(native_unwinder__thread(u, gone, &st), -ESRCH);
	assert_int_equal(native_unwinder__thread(u, 0, &st), -ESRCH);
	assert_int_equal(native_unwinder__thread(u, -1, &st), -ESRCH);
	assert_int_equal(native_unwinder__snapshot(u, c.pid, NULL, NULL, 0, 0, &st), -EINVAL);
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, NULL, 16, 0, &st), -EINVAL);
	/* No pc or stack pointer: nothing to unwind. */
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, NULL, 0, 0, &st), -EINVAL);
	regs.ip = 0x1000;
	assert_int_equal(native_unwinder__snapshot(u, c.pid, &regs, NULL, 0, 0, &st), -EINVAL);
	assert_runs_on(&c);

	stop_child(&c);
	assert_int_equal(native_unwinder__thread(u, c.pid, &st), -ESRCH);
	assert_int_equal(native_unwinder__refresh(u), -ESRCH);
	native_unwinder__free(u);
	native_unwinder__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live_thread),	     cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_depth_limit),	     cmocka_unit_test(test_stop_timeout),
	    cmocka_unit_test(test_hostile_snapshot), cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
