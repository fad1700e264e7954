// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gilwatch.skel.h"
#include "proc.h"
#include "parking_lot.h"
#include "thread_view.h"

#define NR_FUTEX 202
#define FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG / CLOCK_REALTIME */
#define FUTEX_PRIVATE_FLAG 0x80
#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9

const char *syscall_name(long nr, char *buf, size_t len)
{
	static const struct {
		long nr;
		const char *name;
	} names[] = {
	    {0, "read"},
	    {1, "write"},
	    {7, "poll"},
	    {23, "select"},
	    {35, "nanosleep"},
	    {43, "accept"},
	    {45, "recvfrom"},
	    {47, "recvmsg"},
	    {61, "wait4"},
	    {202, "futex"},
	    {230, "clock_nanosleep"},
	    {232, "epoll_wait"},
	    {247, "waitid"},
	    {270, "pselect6"},
	    {271, "ppoll"},
	    {281, "epoll_pwait"},
	    {288, "accept4"},
	    {441, "epoll_pwait2"},
	    {449, "futex_waitv"},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].nr == nr)
			return names[i].name;
	}
	snprintf(buf, len, "syscall %ld", nr);
	return buf;
}

/* The system call a blocked thread sits in, and a futex wait's word. */
static void read_task_syscall(pid_t pid, struct thread_view *v)
{
	struct proc_syscall sc;
	uint64_t op;

	v->syscall = -1;
	if (proc__syscall(pid, (pid_t)v->tid, &sc))
		return;
	v->syscall = sc.nr;
	op = sc.args[1] & FUTEX_CMD_MASK;
	if (sc.nr == NR_FUTEX && (op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET)) {
		v->lock = sc.args[0];
		v->timed = sc.args[3] != 0;
		v->shared = !(sc.args[1] & FUTEX_PRIVATE_FLAG);
	}
}

static void classify(struct gilwatch_bpf *skel, const struct gw_target *t, struct thread_view *v,
		     pid_t gil_holder, char state)
{
	struct gw_thread_state ts;

	if (skel &&
	    !bpf_map__lookup_elem(skel->maps.thread_state, &v->tid, sizeof(v->tid), &ts, sizeof(ts),
				  0) &&
	    ts.pid == (uint32_t)t->pid) {
		/* A GIL waiter sleeps on the GIL's condvar (a futex) or spins. */
		if (ts.gil_wait_start && (v->syscall < 0 || v->syscall == NR_FUTEX)) {
			v->activity = TV_GIL_WAIT;
			v->since_ns = ts.gil_wait_start;
			return;
		}
		if (ts.lock_wait_addr) {
			v->activity = TV_LOCK_WAIT;
			v->lock = ts.lock_wait_addr;
			v->since_ns = ts.lock_wait_start;
			v->lock_is_mutex = ts.lock_wait_parked;
			return;
		}
	}
	if ((pid_t)v->tid == gil_holder)
		v->activity = TV_HOLDS_GIL;
	else if (state == 'R' || v->syscall < 0)
		v->activity = TV_RUNNING;
	else if (v->syscall == NR_FUTEX)
		v->activity = TV_FUTEX;
	else
		v->activity = TV_SYSCALL;
}

struct view_read {
	struct gilwatch_bpf *skel;
	const struct gw_target *t;
	struct thread_view *out;
	size_t n, max;
	pid_t gil_holder;
};

static int view_thread(pid_t tid, void *ctx)
{
	struct view_read *r = ctx;
	struct thread_view *v = &r->out[r->n];
	char state;

	memset(v, 0, sizeof(*v));
	v->tid = tid;
	if (proc__cpu(r->t->pid, tid, &state, &v->cpu_ticks))
		return 0;
	v->stopped = state == 'T' || state == 't';
	proc__comm(r->t->pid, tid, v->name, sizeof(v->name));
	read_task_syscall(r->t->pid, v);
	classify(r->skel, r->t, v, r->gil_holder, state);
	/* A PyMutex waiter is named by the mutex, not its parking semaphore. */
	if (v->lock && !v->lock_is_mutex &&
	    (v->activity == TV_LOCK_WAIT || v->activity == TV_FUTEX))
		v->lock = parking_lot__mutex(r->t, v->lock);
	return ++r->n == r->max;
}

size_t thread_view__read(struct gilwatch_bpf *skel, const struct gw_target *t,
			 struct thread_view *out, size_t max)
{
	struct view_read r = {.skel = skel, .t = t, .out = out, .max = max};

	if (!max)
		return 0;
	target__gil_holder(t, &r.gil_holder);
	proc__for_each_task(t->pid, view_thread, &r);
	return r.n;
}

const char *thread_view__describe(const struct thread_view *v, uint64_t head_lock, char *buf,
				  size_t len)
{
	char sc[32];

	switch (v->activity) {
	case TV_RUNNING:
		snprintf(buf, len, "running");
		break;
	case TV_HOLDS_GIL:
		if (v->syscall >= 0)
			snprintf(buf, len, "holds the GIL, in %s()",
				 syscall_name(v->syscall, sc, sizeof(sc)));
		else
			snprintf(buf, len, "holds the GIL, running");
		break;
	case TV_GIL_WAIT:
		snprintf(buf, len, "waits for the GIL");
		break;
	case TV_LOCK_WAIT:
		if (v->lock == head_lock)
			snprintf(buf, len, "waits for HEAD_LOCK");
		else
			snprintf(buf, len, "waits for lock 0x%llx", (unsigned long long)v->lock);
		break;
	case TV_FUTEX:
		snprintf(buf, len, "waits on futex 0x%llx%s", (unsigned long long)v->lock,
			 v->timed ? " (with timeout)" : "");
		break;
	case TV_SYSCALL:
		snprintf(buf, len, "in %s()", syscall_name(v->syscall, sc, sizeof(sc)));
		break;
	}
	return buf;
}
