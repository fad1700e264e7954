/* SPDX-License-Identifier: MIT */
/* A watched process: its CPython image, build, probe symbols and the runtime
 * addresses of the interpreter state gilwatch reads.
 */
#ifndef GW_TARGET_H
#define GW_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "head_lock_sites.h"
#include "libc_condvar.h"
#include "python_build.h"

/* Why a probe of the plan has no place in a build (0: it has one). */
enum probe_absence {
	PROBE_PRESENT,
	PROBE_NOT_FOUND,	 /* the symbol, down the whole symbol ladder */
	PROBE_NOT_IN_LIBC,	 /* the libc symbol */
	PROBE_NO_GIL_STATE,	 /* the GIL is not where the layout says in _PyRuntime */
	PROBE_CONDVAR_UNKNOWN,	 /* glibc's condvar wait not recognized */
	PROBE_HEAD_LOCK_PYMUTEX, /* 3.13+: HEAD_LOCK is no semaphore */
	PROBE_NO_HEAD_LOCK_CALL, /* no HEAD_LOCK call inside the function */
	PROBE_SEMAPHORE_LOCK,	 /* the lock type is no PyMutex here: sem_* probes */
	PROBE_SHARED_FUNCTION,	 /* the function of another probe (lock->shares) */
};

struct gw_target {
	pid_t pid;
	pid_t tgid; /* differs from pid when a thread id was given */
	char comm[16];
	char python_path[PATH_MAX]; /* as the target maps it */
	char python_file[PATH_MAX]; /* the same, opened through /proc/PID/root */
	uint64_t python_bias;
	char libc_file[PATH_MAX];
	struct python_build build;
	/* Per probe: where it attaches, or why it cannot. */
	struct elf_symbol sym[PY_PROBE_COUNT];
	enum probe_absence absent[PY_PROBE_COUNT];
	int gc_usdt;		   /* USDT python:gc__start/gc__done present */
	uint64_t runtime;	   /* _PyRuntime */
	uint64_t code_type;	   /* PyCode_Type, to tell code objects from garbage */
	uint64_t py_true, py_none; /* _Py_TrueStruct, _Py_NoneStruct */
	uint64_t gil;		   /* runtime address of the main GIL's state, 0 if unknown */
	/* Where _PyRuntime.interpreters.mutex lives, 0 if not a semaphore. Read
	 * it when needed: startup may replace the lock it points to.
	 */
	uint64_t head_lock_field;
	/* Where a native stack shows a HEAD_LOCK holder (3.10-3.12). */
	struct head_lock_sites head_lock_sites;
	uint64_t gc_stats; /* 3.13: the main interpreter's gc.generation_stats */
	/* Runtime ranges of the static functions gilwatch probes (and of a
	 * split-off cold part of gc_collect_main), for stacks of a stripped
	 * build: from their symbols (any rung of the symbol ladder) or the CFI
	 * around gc's USDT probe. name NULL: unused.
	 */
	struct {
		const char *name;
		uint64_t start, end;
	} known[4];
	uint64_t pthread_tid_offset;	/* glibc struct pthread -> tid (3.10) */
	struct condvar_sleep gil_sleep; /* where a GIL wait sleeps (gil_wait probe) */
};

/* -ESRCH: no such process; -ECHILD: pid is a thread of process t->tgid;
 * -ENOEXEC: not a CPython process;
 * -EPROTONOSUPPORT: a CPython gilwatch does not support (build filled in).
 */
int target__open(struct gw_target *t, pid_t pid);
/* Whether child is a copy of t that forked and did not exec: it maps t's
 * Python ELF at the same place, so t's addresses hold in it.
 */
bool target__forked_copy(const struct gw_target *t, pid_t child);
/* HEAD_LOCK's semaphore now, 0 if unknown. */
uint64_t target__head_lock(const struct gw_target *t);
/* The GIL's handoff counter (switch_number). */
int target__gil_switches(const struct gw_target *t, uint64_t *n);
/* "gc_collect_main", "take_gil", "drop_gil" (and the offset into it) if pc
 * lies in it, else NULL: names a frame that a stripped build leaves unnamed.
 */
const char *target__known_function(const struct gw_target *t, uint64_t pc, uint64_t *offset);

/* A thread state of the interpreter and the OS thread running it. */
struct target_thread {
	pid_t tid; /* 0 if unknown */
	uint64_t tstate;
};

/* The main interpreter's thread states, at most max (the list is walked
 * with a bound: a corrupted or changing list ends the walk). Returns the
 * number found or -errno.
 */
int target__threads(const struct gw_target *t, struct target_thread *out, unsigned max);
/* The OS thread id of a thread state. */
int target__tstate_tid(const struct gw_target *t, uint64_t tstate, pid_t *tid);
/* Reads the GIL holder's thread id; 0 if the GIL is free or unknown. */
int target__gil_holder(const struct gw_target *t, pid_t *tid);

/* Why probe is absent from t, in words: "take_gil not found (stripped)". */
void target__absence(const struct gw_target *t, int probe, bool stripped, char *buf, size_t len);

#endif
