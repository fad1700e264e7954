/* SPDX-License-Identifier: MIT */
/* The one place that maps a CPython build to what gilwatch probes in it and
 * where the interpreter keeps its state (docs/probes.md).
 */
#ifndef GW_PYTHON_BUILD_H
#define GW_PYTHON_BUILD_H

#include <stdint.h>
#include <stdbool.h>
#include "elf_file.h"
#include "python_layout.h"

enum python_probe {
	PY_PROBE_GC,	     /* gc_collect_main() or USDT gc__start/gc__done */
	PY_PROBE_FRAMES,     /* _PyThread_CurrentFrames() */
	PY_PROBE_EXCEPTIONS, /* _PyThread_CurrentExceptions() */
	PY_PROBE_GIL_WAIT,   /* the GIL's condvar wait: sampled, --deep traced */
	/* Where _PyThread_CurrentFrames/Exceptions() has taken HEAD_LOCK: the
	 * return of its HEAD_LOCK call (3.10-3.12).
	 */
	PY_PROBE_FRAMES_HEAD_LOCK,
	PY_PROBE_EXCEPTIONS_HEAD_LOCK,
	PY_PROBE_SEM_WAIT, /* --deep: blocking lock acquisitions (PyThread_type_lock) */
	PY_PROBE_SEM_CLOCKWAIT,
	PY_PROBE_SEM_TIMEDWAIT,
	PY_PROBE_TAKE_GIL,    /* --deep */
	PY_PROBE_DROP_GIL,    /* --deep */
	PY_PROBE_SEM_TRYWAIT, /* --deep: uncontended lock acquisitions */
	PY_PROBE_SEM_POST,    /* --deep: lock releases */
	PY_PROBE_LOCK_ALLOC,  /* --deep: where locks are created (sem_init) */
	/* --deep, threading locks that are PyMutexes (lock_type.h) */
	PY_PROBE_PARK,	       /* _PySemaphore_Wait(): a parked, blocking acquisition */
	PY_PROBE_LOCK_ACQUIRE, /* _thread.lock: acquire */
	PY_PROBE_LOCK_ENTER,   /* __enter__: acquire's function up to 3.14 */
	PY_PROBE_LOCK_RELEASE,
	PY_PROBE_LOCK_EXIT,
	PY_PROBE_LOCK_NEW,	/* threading.Lock() */
	PY_PROBE_ALLOCATE_LOCK, /* _thread.allocate_lock(): Condition's waiters */
	PY_PROBE_LOCK_DEALLOC,	/* freed, maybe still locked (a Condition's waiter) */
	PY_PROBE_RLOCK_ACQUIRE, /* _thread.RLock */
	PY_PROBE_RLOCK_ENTER,
	PY_PROBE_RLOCK_RELEASE,
	PY_PROBE_RLOCK_EXIT,
	PY_PROBE_RLOCK_RESTORE, /* _acquire_restore: Condition.wait takes it back */
	PY_PROBE_RLOCK_SAVE,	/* _release_save: Condition.wait lets it go */
	PY_PROBE_RLOCK_NEW,
	PY_PROBE_RLOCK_DEALLOC,
	PY_PROBE_COUNT,
};

/* How a static function is recovered from a stripped build's code: the
 * first static function the exported callers reach that itself calls all
 * of calls[] (disasm__recover()). Both lists are NULL-terminated.
 */
struct python_recovery {
	const char *callers[3], *calls[3];
};

/* How a function a stripped build does not export is found from a builtin
 * method that calls it, checked on a sibling whose callee is exported
 * (method_table.h).
 */
struct python_method_hint {
	const char *method, *marker, *check_method, *check_fn;
};

/* A function of a threading lock type, from its method table or slots
 * (lock_type.h); rlock: a _thread.RLock function, else a _thread.lock one.
 * A method may be another's function (__enter__ is acquire's up to 3.14,
 * a clinic wrapper of its own in 3.15): shares names that probe, 0 none.
 */
struct python_lock_function {
	const char *anchor, *method;
	int slot;
	bool rlock;
	int shares;
};

struct python_probe_spec {
	const char *name;			 /* shown to users */
	const char *symbol;			 /* function to probe */
	const char *usdt_start, *usdt_done;	 /* provider "python", fallback */
	bool deep;				 /* --deep only */
	bool libc;				 /* symbol is in libc, not the Python ELF */
	const struct python_recovery *recovery;	 /* stripped builds; NULL: none */
	const struct python_method_hint *method; /* stripped builds; NULL: none */
	const struct python_lock_function *lock; /* instead of symbol */
};

/* What HEAD_LOCK calls on 3.10-3.12 (LTO may inline the first into the
 * second); NULL-terminated.
 */
extern const char *const head_lock_calls[];

struct python_build {
	unsigned major, minor, micro;
	char version[16];
	char build_id[41];
	struct python_layout layout;
	int layout_from_debug_offsets;
	bool free_threaded;  /* 3.13t+: refused (docs/probes.md) */
	bool layout_unknown; /* 3.13+ whose _Py_DebugOffsets layout is not known */
};

/* threading.Lock is a PyMutex from 3.13.1 (CPython gh-117721), RLock from
 * 3.14; before, both are PyThread_type_locks (semaphores).
 */
bool python_build__pymutex_lock(const struct python_build *b);
bool python_build__pymutex_rlock(const struct python_build *b);

extern const struct python_probe_spec python_probes[PY_PROBE_COUNT];

/* Version from Py_Version (3.11+), else from the file name and a version
 * string in the image. -ENOENT if it cannot be told.
 */
int python_build__detect(struct elf_file *ef, const char *path, struct python_build *b);
/* Fills b->layout; -EPROTONOSUPPORT for a version gilwatch does not know
 * (b->free_threaded and b->layout_unknown say why for 3.13+).
 */
int python_build__resolve_layout(struct elf_file *ef, struct python_build *b);
/* Parses "python3.10", "libpython3.6m.so.1.0", ... */
int python_version__from_filename(const char *path, unsigned *major, unsigned *minor);

#endif
