/* SPDX-License-Identifier: MIT */
/* Python and native stacks of any thread of one watched process, read on
 * demand (a report, `dump`): the thread-state list maps OS threads to
 * Python thread states; the unwinder keeps the process's modules loaded.
 */
#ifndef GW_STACK_COLLECTOR_H
#define GW_STACK_COLLECTOR_H

#include "native_stack.h"
#include "py_stack.h"
#include "target.h"

#define STACK_COLLECTOR_THREADS 1024

/* Both stacks of one thread; an error leaves that stack empty. */
struct thread_stacks {
	int py_err;	/* -ENOENT: the thread runs no Python code */
	int native_err; /* -EPERM, -ETIMEDOUT, ... */
	struct py_stack py;
	struct native_stack native;
};

struct stack_collector {
	const struct gw_target *t;
	struct py_reader py;
	struct native_unwinder *native; /* NULL: see native_err */
	int native_err;
	/* Never stop a thread: a running one gets no native stack, a blocked
	 * one what its entry pc and stack pointer unwind to.
	 */
	bool no_stop;
	struct native_stack scratch; /* the deepest of several reads */
	struct target_thread threads[STACK_COLLECTOR_THREADS];
	int nthreads;
};

/* t must outlive the collector. Native stacks may be unavailable (then
 * native_err says why); Python stacks need only the layout. -ENOMEM.
 */
int stack_collector__init(struct stack_collector *c, const struct gw_target *t);
void stack_collector__destroy(struct stack_collector *c);
/* Reloads the modules if the executable mappings changed (a library or an
 * extension module loaded since), so that a crash in a module loaded late
 * still unwinds after the process is gone; frees loaded modules unused for
 * a minute. Cheap enough to call twice a second.
 */
void stack_collector__follow_mappings(struct stack_collector *c);
/* The Python thread state of OS thread tid, 0 if none. */
uint64_t stack_collector__tstate(const struct stack_collector *c, pid_t tid);
void stack_collector__collect(struct stack_collector *c, pid_t tid, struct thread_stacks *out);
/* The two halves of it: the Python stack (native_err -ECANCELED), then the
 * native one.
 */
void stack_collector__collect_python(struct stack_collector *c, pid_t tid,
				     struct thread_stacks *out);
void stack_collector__collect_native(struct stack_collector *c, pid_t tid,
				     struct thread_stacks *out);
/* Names the frames the unwinder could not but the target knows. */
void stack_collector__label(const struct stack_collector *c, struct native_stack *s);
/* True if a frame of the native stack is one of the NULL-terminated names. */
bool thread_stacks__native_has(const struct thread_stacks *s, const char *const *names);
/* The function of t that a frame of s resumes in past its HEAD_LOCK call
 * (head_lock_sites.h): the thread holds HEAD_LOCK there. NULL if none.
 */
const char *thread_stacks__head_lock_holder(const struct thread_stacks *s,
					    const struct gw_target *t);
/* FNV-1a of the stacks' pcs and code locations folded into h: two reads
 * give the same value when the thread did not move (a GIL waiter's frames
 * inside take_gil, where it polls, left out).
 */
uint64_t thread_stacks__signature(const struct thread_stacks *s, uint64_t h, bool gil_waiter);

#endif
