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

struct python_probe_spec {
	const char *name;			 /* shown to users */
	const char *symbol;			 /* function to probe */
	const char *usdt_start, *usdt_done;	 /* provider "python", fallback */
	bool deep;				 /* --deep only */
	bool libc;				 /* symbol is in libc, not the Python ELF */
	const struct python_recovery *recovery;	 /* stripped builds; NULL: none */
	const struct python_method_hint *method; /* stripped builds; NULL: none */
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
