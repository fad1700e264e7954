// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "thread_state_infer.h"

/* glibc's pthread_cond_t: the futex words a waiter sleeps on lie inside. */
#define PTHREAD_COND_SIZE 48

static const char *const gc_functions[] = {"gc_collect_main", "gc_collect_with_callback",
					   "gc_collect_region", "_PyGC_Collect", NULL};
static const char *const gil_waits[] = {"take_gil", NULL};
static const char *const lock_waits[] = {"PyThread_acquire_lock_timed", "PyThread_acquire_lock",
					 "sem_wait", "sem_clockwait", "sem_timedwait",
					 /* PyMutex (3.13+), exported by stripped builds too */
					 "_PyMutex_LockTimed", "_PyParkingLot_Park",
					 "_PySemaphore_Wait", NULL};

static bool head_lock_taken(const struct mem_source *mem, uint64_t sem)
{
	uint32_t value = 1;

	/* glibc's new_sem keeps the count in the low word of its first field. */
	return sem && !mem->read(mem->ctx, sem, &value, sizeof(value)) && value == 0;
}

static bool gc_running(const struct gw_target *t, const struct mem_source *mem)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t interp = 0;
	int collecting = 0;

	return t->runtime && l->interp_gc_collecting &&
	       !mem->read(mem->ctx, t->runtime + l->runtime_interp_head, &interp, sizeof(interp)) &&
	       interp &&
	       !mem->read(mem->ctx, interp + l->interp_gc_collecting, &collecting,
			  sizeof(collecting)) &&
	       collecting;
}

/* HEAD_LOCK's semaphore now: startup replaces the lock the field points to. */
static uint64_t head_lock(const struct gw_target *t, const struct mem_source *mem)
{
	uint64_t sem = 0;

	if (!t->head_lock_field || mem->read(mem->ctx, t->head_lock_field, &sem, sizeof(sem)))
		return 0;
	return sem;
}

void thread_state__infer(const struct gw_target *t, const struct mem_source *mem,
			 struct thread_view *v, const struct thread_stacks *s,
			 struct inferred_state *out)
{
	uint64_t cond = t->gil ? t->gil + t->build.layout.gil_cond : 0;
	bool named = false;
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->head_lock = head_lock(t, mem);
	for (i = 0; i < s->native.n && !named; i++)
		named = s->native.f[i].symbol[0] != '\0';
	/* The GIL holder blocked on a lock: the other half of an inversion. */
	if (v->activity == TV_HOLDS_GIL && v->lock &&
	    ((out->head_lock && v->lock == out->head_lock) ||
	     thread_stacks__native_has(s, lock_waits))) {
		out->holds_gil = true;
		v->activity = TV_LOCK_WAIT;
	} else if (v->activity == TV_FUTEX || v->activity == TV_RUNNING) {
		/* A GIL waiter wakes every 5 ms to ask for a drop: it may be
		 * caught running, its stack still says where it is.
		 */
		if ((v->activity == TV_FUTEX && cond && v->lock >= cond &&
		     v->lock < cond + PTHREAD_COND_SIZE) ||
		    thread_stacks__native_has(s, gil_waits))
			v->activity = TV_GIL_WAIT;
		else if (v->activity == TV_FUTEX &&
			 ((out->head_lock && v->lock == out->head_lock) ||
			  thread_stacks__native_has(s, lock_waits)))
			v->activity = TV_LOCK_WAIT;
	}
	/* A thread waiting for HEAD_LOCK may hold it too, further out (a
	 * collection inside sys._current_frames() dropping a threading.local).
	 */
	out->head_lock_in =
	    head_lock_taken(mem, out->head_lock) ? thread_stacks__head_lock_holder(s, t) : NULL;
	out->holds_head_lock = out->head_lock_in != NULL;
	/* Without C symbols, the collection runs in the GIL holder. */
	out->in_gc = gc_running(t, mem) && (named ? thread_stacks__native_has(s, gc_functions)
						  : v->activity == TV_HOLDS_GIL);
}

const char *thread_state__describe(const struct thread_view *v, const struct inferred_state *st,
				   char *buf, size_t len)
{
	char base[96];
	char held[96] = "";

	thread_view__describe(v, st->head_lock, base, sizeof(base));
	if (st->holds_head_lock)
		snprintf(held, sizeof(held), ", holds HEAD_LOCK (in %s)", st->head_lock_in);
	snprintf(buf, len, "%s%s%s%s", st->holds_gil ? "holds the GIL, " : "", base, held,
		 st->in_gc ? ", in GC" : "");
	return buf;
}

void thread_state__json(struct json_writer *w, const struct thread_view *v,
			const struct inferred_state *st)
{
	char buf[32];

	jw_array_begin(w, "holds");
	if (v->activity == TV_HOLDS_GIL || st->holds_gil)
		jw_str(w, NULL, "GIL");
	if (st->holds_head_lock)
		jw_str(w, NULL, "HEAD_LOCK");
	jw_array_end(w);
	if (v->activity == TV_GIL_WAIT) {
		jw_str(w, "waits_for", "GIL");
	} else if (v->activity == TV_LOCK_WAIT) {
		if (v->lock == st->head_lock)
			jw_str(w, "waits_for", "HEAD_LOCK");
		else {
			snprintf(buf, sizeof(buf), "lock 0x%llx", (unsigned long long)v->lock);
			jw_str(w, "waits_for", buf);
		}
	}
	if (st->in_gc)
		jw_bool(w, "in_gc", true);
	if (v->syscall >= 0)
		jw_str(w, "syscall", syscall_name(v->syscall, buf, sizeof(buf)));
}
