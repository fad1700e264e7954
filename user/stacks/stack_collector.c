// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "proc.h"
#include "ret_fixups.h"
#include "stack_collector.h"

/* A loaded module set costs megabytes: let it go when unused this long. */
#define NATIVE_IDLE_NS (60 * 1000000000ull)
#define NO_STOP_SPACING_NS 20000ull

void stack_collector__follow_mappings(struct stack_collector *c)
{
	if (!c->native)
		return;
	native_unwinder__refresh(c->native);
	native_unwinder__trim(c->native, NATIVE_IDLE_NS);
}

int stack_collector__init(struct stack_collector *c, const struct gw_target *t)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->t = t;
	err = py_reader__init(&c->py, &t->build.layout, t->code_type, mem_source__process(t->pid));
	if (err)
		return err;
	c->native_err = native_unwinder__new(t->pid, &c->native);
	if (c->native_err)
		c->native = NULL;
	c->nthreads = target__threads(t, c->threads, STACK_COLLECTOR_THREADS);
	return 0;
}

void stack_collector__destroy(struct stack_collector *c)
{
	py_reader__destroy(&c->py);
	if (c->native)
		native_unwinder__free(c->native);
	c->native = NULL;
}

uint64_t stack_collector__tstate(const struct stack_collector *c, pid_t tid)
{
	int i;

	for (i = 0; i < c->nthreads; i++) {
		if (c->threads[i].tid == tid)
			return c->threads[i].tstate;
	}
	return 0;
}

/* A thread asleep in a system call is unwound from where it entered it,
 * never stopped, from a copy of its stack; it must still be there after
 * the copy (same call, stack pointer and pc), or its stack may have changed
 * under it. -EAGAIN: running, or moved.
 */
static int unwind_blocked_once(struct stack_collector *c, pid_t tid, struct native_stack *out)
{
	struct proc_syscall before, after;
	struct gw_user_regs saved;
	bool have_saved;
	int err;

	if (proc__syscall(c->t->pid, tid, &before) ||
	    native_unwinder__copy_stack(c->native, tid, before.sp))
		return -EAGAIN;
	/* Read between the two looks: the same call throughout, so the
	 * registers saved at its entry still hold.
	 */
	have_saved = !ret_fixups__task_regs(tid, &saved);
	/* Back asleep at the same place is the same stack: a GIL waiter re-enters
	 * its timed wait on either of the condvar's futex words.
	 */
	if (proc__syscall(c->t->pid, tid, &after) || after.nr != before.nr ||
	    after.sp != before.sp || after.pc != before.pc)
		return -EAGAIN;
	err = native_unwinder__blocked(c->native, tid, before.pc, before.sp,
				       have_saved ? &saved : NULL, out);
	return err;
}

/* A GIL waiter wakes every switch interval to ask for the GIL, and sleeps
 * again: a few tries find it asleep, and its stack whole (a read while it
 * ran ends early). Many more when stopping it is no option, spaced so that
 * it can fall asleep again (at a 1 us interval it mostly spins): then the
 * deepest stack read is the answer only if no try saw it asleep throughout
 * (a thread running Python code). -EAGAIN: stop the thread to unwind it.
 */
static int unwind_blocked(struct stack_collector *c, pid_t tid, struct native_stack *out)
{
	int err = -EAGAIN, i, tries = c->no_stop ? 200 : 3;
	struct native_stack *best = &c->scratch;
	bool asleep = false;

	best->n = 0;
	for (i = 0; i < tries; i++) {
		err = unwind_blocked_once(c, tid, out);
		if (!err && !out->truncated)
			return 0;
		if (!err && out->n > best->n)
			*best = *out;
		asleep |= !err;
		/* Running (not in a system call at all): more tries will not help. */
		if (err == -EAGAIN && i >= 20 && !asleep && !c->no_stop)
			break;
		if (c->no_stop)
			sleep_ns(NO_STOP_SPACING_NS);
	}
	if (!c->no_stop || !best->n)
		return -EAGAIN;
	*out = *best;
	return 0;
}

void stack_collector__collect_python(struct stack_collector *c, pid_t tid,
				     struct thread_stacks *out)
{
	uint64_t tstate = stack_collector__tstate(c, tid), frame = 0;

	if (!tstate) { /* started since the last look */
		c->nthreads = target__threads(c->t, c->threads, STACK_COLLECTOR_THREADS);
		tstate = stack_collector__tstate(c, tid);
	}
	out->py.n = out->py.truncated = 0;
	out->native.n = out->native.truncated = 0;
	out->native_err = -ECANCELED;
	if (!tstate)
		out->py_err = -ENOENT;
	else if (!(out->py_err = py_reader__current_frame(&c->py, tstate, &frame)))
		out->py_err = py_reader__stack(&c->py, frame, &out->py);
}

void stack_collector__collect_native(struct stack_collector *c, pid_t tid,
				     struct thread_stacks *out)
{
	struct gw_ret_fixup fixups[GW_MAX_RET_FIXUPS];
	int nfix;

	out->native.n = out->native.truncated = 0;
	if (!c->native) {
		out->native_err = c->native_err;
		return;
	}
	nfix = ret_fixups__read(tid, fixups, GW_MAX_RET_FIXUPS);
	native_unwinder__set_ret_fixups(c->native, fixups, nfix);
	out->native_err = unwind_blocked(c, tid, &out->native);
	if (out->native_err && !c->no_stop) {
		gw_debug("pid %d: thread %d stopped to unwind it (%s)", c->t->pid, tid,
			 strerror(-out->native_err));
		out->native_err = native_unwinder__thread(c->native, tid, &out->native);
	}
	native_unwinder__set_ret_fixups(c->native, NULL, 0);
	stack_collector__label(c, &out->native);
}

void stack_collector__collect(struct stack_collector *c, pid_t tid, struct thread_stacks *out)
{
	stack_collector__collect_python(c, tid, out);
	stack_collector__collect_native(c, tid, out);
}

void stack_collector__label(const struct stack_collector *c, struct native_stack *s)
{
	const char *name;
	uint64_t offset;
	unsigned i;

	for (i = 0; i < s->n; i++) {
		struct native_frame *f = &s->f[i];

		if (f->symbol[0])
			continue;
		/* Return addresses point after the call: look up the call. */
		name = target__known_function(c->t, i ? f->ip - 1 : f->ip, &offset);
		if (!name)
			continue;
		snprintf(f->symbol, sizeof(f->symbol), "%s", name);
		f->offset = offset + (i ? 1 : 0);
	}
}

bool thread_stacks__native_has(const struct thread_stacks *s, const char *const *names)
{
	unsigned i;
	size_t j;

	for (i = 0; i < s->native.n; i++) {
		for (j = 0; names[j]; j++) {
			if (!strcmp(s->native.f[i].symbol, names[j]))
				return true;
		}
	}
	return false;
}

const char *thread_stacks__head_lock_holder(const struct thread_stacks *s,
					    const struct gw_target *t)
{
	const char *fn;
	unsigned i;

	/* Frame 0 is where the thread is, not a return address. */
	for (i = 1; i < s->native.n; i++) {
		fn = head_lock_sites__holder_at(&t->head_lock_sites, s->native.f[i].ip);
		if (fn)
			return fn;
	}
	return NULL;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	return (h ^ v) * 1099511628211ull;
}

uint64_t thread_stacks__signature(const struct thread_stacks *s, uint64_t h, bool gil_waiter)
{
	unsigned i, from = 0;

	/* A GIL waiter polls: caught asleep or running inside take_gil, its
	 * innermost frames differ from look to look; its callers do not.
	 */
	for (i = 0; gil_waiter && i < s->native.n; i++) {
		if (!strcmp(s->native.f[i].symbol, "take_gil"))
			from = i + 1;
	}
	h = fnv(h ? h : 14695981039346656037ull, s->native.n - from);
	for (i = from; i < s->native.n; i++)
		h = fnv(h, s->native.f[i].ip);
	h = fnv(h, s->py.n);
	for (i = 0; i < s->py.n; i++)
		h = fnv(fnv(h, s->py.f[i].code), (uint64_t)s->py.f[i].line);
	return h;
}
