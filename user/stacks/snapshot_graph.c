// SPDX-License-Identifier: MIT
#include "lock_object.h"
#include "snapshot_graph.h"

/* Whether a thread waits for HEAD_LOCK: then who holds it matters. */
static bool head_lock_waited(const struct snapshot_thread *th, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (th[i].view.activity == TV_LOCK_WAIT && th[i].state.head_lock &&
		    th[i].view.lock == th[i].state.head_lock)
			return true;
	}
	return false;
}

size_t snapshot_graph__look(const struct gw_target *t, struct stack_collector *c,
			    struct snapshot_thread *th, size_t max, bool native)
{
	struct thread_view views[GW_MAX_VIEWS];
	struct mem_source mem = mem_source__process(t->pid);
	size_t n, i;

	n = thread_view__read(NULL, t, views, max < GW_MAX_VIEWS ? max : GW_MAX_VIEWS);
	for (i = 0; i < n; i++) {
		th[i].view = views[i];
		stack_collector__collect_python(c, (pid_t)views[i].tid, &th[i].stacks);
		if (native)
			stack_collector__collect_native(c, (pid_t)views[i].tid, &th[i].stacks);
		thread_state__infer(t, &mem, &th[i].view, &th[i].stacks, &th[i].state);
		th[i].lock_owner = 0;
		/* Without native stacks a lock wait is a futex wait until its
		 * frames show the RLock over that futex.
		 */
		if (((th[i].view.activity == TV_FUTEX && !th[i].view.timed) ||
		     (th[i].view.activity == TV_LOCK_WAIT &&
		      th[i].view.lock != th[i].state.head_lock)) &&
		    !lock_object__waited_owner(c, (pid_t)views[i].tid, th[i].view.lock,
					       &th[i].lock_owner))
			th[i].view.activity = TV_LOCK_WAIT;
	}
	if (native || !head_lock_waited(th, n))
		return n;
	/* HEAD_LOCK's holder shows only on a native stack: a waiter's, as it
	 * can only close a cycle by waiting itself.
	 */
	for (i = 0; i < n; i++) {
		/* A GIL waiter polls: it may be caught running. */
		if (th[i].view.activity != TV_GIL_WAIT && th[i].view.activity != TV_LOCK_WAIT &&
		    th[i].view.activity != TV_RUNNING)
			continue;
		th[i].view = views[i];
		stack_collector__collect_native(c, (pid_t)views[i].tid, &th[i].stacks);
		thread_state__infer(t, &mem, &th[i].view, &th[i].stacks, &th[i].state);
	}
	return n;
}

static bool holds_gil(const struct snapshot_thread *t)
{
	return t->view.activity == TV_HOLDS_GIL || t->state.holds_gil;
}

/* The one thread of th holding what has(): 0 if none or several. */
static uint32_t only_holder(const struct snapshot_thread *th, size_t n,
			    bool (*has)(const struct snapshot_thread *t))
{
	uint32_t holder = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!has(&th[i]))
			continue;
		if (holder)
			return 0;
		holder = th[i].view.tid;
	}
	return holder;
}

static bool holds_head_lock(const struct snapshot_thread *t)
{
	return t->state.holds_head_lock;
}

size_t snapshot_graph__waiters(const struct snapshot_thread *th, size_t n, uint64_t now_ns,
			       struct waiter *out, size_t max)
{
	uint32_t gil = only_holder(th, n, holds_gil), head = only_holder(th, n, holds_head_lock);
	size_t i, m = 0;

	for (i = 0; i < n && m < max; i++) {
		const struct snapshot_thread *t = &th[i];
		struct waiter w = {.tid = t->view.tid,
				   .wait_from = WAIT_SNAPSHOT,
				   .addr = t->view.lock,
				   .since_ns = now_ns};

		/* A stopped thread (SIGSTOP, a debugger) waits for nothing of
		 * ours: the process is stopped, not deadlocked.
		 */
		if (t->view.stopped)
			continue;
		if (t->view.activity == TV_GIL_WAIT) {
			w.kind = LOCK_GIL;
			w.addr = 0;
			w.holder = gil != w.tid ? gil : 0;
			w.holder_from = HOLDER_GIL_STATE;
		} else if (t->view.activity == TV_LOCK_WAIT && t->state.head_lock &&
			   t->view.lock == t->state.head_lock) {
			w.kind = LOCK_HEAD;
			w.holder = head;
			w.holder_from = HOLDER_NATIVE_STACK;
		} else if (t->view.activity == TV_LOCK_WAIT) {
			/* An RLock's owner is in the object; a Lock has none. */
			w.kind = LOCK_SEM;
			w.holder = t->lock_owner;
			w.holder_from = HOLDER_LOCK_OBJECT;
		} else {
			continue;
		}
		if (!w.holder)
			w.holder_from = HOLDER_UNKNOWN;
		out[m++] = w;
	}
	return m;
}

uint64_t snapshot_graph__fold(uint64_t h, uint64_t v, bool with_cpu, uint64_t ticks)
{
	h = (h ^ v) * 1099511628211ull;
	return with_cpu ? (h ^ ticks) * 1099511628211ull : h;
}

uint64_t snapshot_graph__signature(const struct gw_target *t, const struct snapshot_thread *th,
				   size_t n, const struct wait_cycle *c)
{
	uint64_t h = c->key, switches = 0;
	size_t i, j;

	for (i = 0; i < c->n; i++) {
		for (j = 0; j < n && th[j].view.tid != c->members[i].tid; j++)
			;
		if (j == n)
			return 0;
		h = snapshot_graph__fold(
		    h, thread_stacks__signature(&th[j].stacks, 0, c->members[i].kind == LOCK_GIL),
		    c->members[i].kind != LOCK_GIL, th[j].view.cpu_ticks);
	}
	target__gil_switches(t, &switches);
	return snapshot_graph__fold(h, switches, false, 0);
}
