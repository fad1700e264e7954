/* SPDX-License-Identifier: MIT */
/* What each thread of a watched process is doing now, from the BPF wait
 * states, the GIL holder and /proc (state, CPU time, current syscall): the
 * thread lists of stall and fork reports.
 */
#ifndef GW_THREAD_VIEW_H
#define GW_THREAD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gilwatch.h"
#include "target.h"

#define GW_MAX_VIEWS 256

struct gilwatch_bpf;

enum thread_activity {
	TV_RUNNING,   /* on a CPU or runnable */
	TV_HOLDS_GIL, /* holds the GIL (and may be in a syscall with it) */
	TV_GIL_WAIT,  /* waits for the GIL */
	TV_LOCK_WAIT, /* waits for a PyThread_type_lock (semaphore) */
	TV_FUTEX,     /* another futex wait (condition, event, C library lock) */
	TV_SYSCALL,   /* blocked in another system call (I/O, sleep, poll, ...) */
};

struct thread_view {
	uint32_t tid;
	char name[GW_COMM_LEN];
	enum thread_activity activity;
	long syscall;	    /* the blocking system call, -1 if none */
	bool timed;	    /* the futex wait has a timeout */
	bool shared;	    /* a process-shared futex: another process may wake it */
	bool stopped;	    /* SIGSTOP'ed or held by a debugger (state T or t) */
	uint64_t lock;	    /* TV_LOCK_WAIT/TV_FUTEX: the address waited on */
	bool lock_is_mutex; /* lock is the PyMutex itself, not where its waiter sleeps */
	uint64_t since_ns;  /* CLOCK_MONOTONIC start of a GIL or lock wait, 0 if unknown */
	uint64_t cpu_ticks; /* utime + stime */
};

/* Every thread of the process (at most max). Without skel (no BPF), GIL
 * and lock waits show as futex waits.
 */
size_t thread_view__read(struct gilwatch_bpf *skel, const struct gw_target *t,
			 struct thread_view *out, size_t max);
/* "holds the GIL", "waits for HEAD_LOCK", "in read()", ... */
const char *thread_view__describe(const struct thread_view *v, uint64_t head_lock, char *buf,
				  size_t len);
/* Name of an x86-64 system call number, "syscall N" for the rest. */
const char *syscall_name(long nr, char *buf, size_t len);

#endif
