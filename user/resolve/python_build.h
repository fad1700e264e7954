/* SPDX-License-Identifier: MIT */
/* The one place that maps a CPython build to what gilwatch probes in it and
 * where the interpreter keeps its state (docs/probes.md).
 */
#ifndef GW_PYTHON_BUILD_H
#define GW_PYTHON_BUILD_H

#include <stdint.h>
#include <stdbool.h>
#include "elf_file.h"

/* Where a thread's Python stack lives: the thread list, the frame chain,
 * code objects and the strings and bytes they point to (docs/stacks.md).
 */
struct python_stack_layout {
	uint64_t interp_threads_head; /* PyInterpreterState -> first PyThreadState */
	uint64_t tstate_next;
	uint64_t tstate_frame;	       /* current frame, or the _PyCFrame (3.11/3.12) */
	uint64_t cframe_current_frame; /* in _PyCFrame; used if frame_via_cframe */
	uint64_t frame_previous;
	uint64_t frame_code;  /* f_code / f_executable */
	uint64_t frame_instr; /* 3.11+: prev_instr / instr_ptr (pointer); 3.10: f_lasti (int) */
	uint64_t frame_owner; /* 3.11+ */
	uint64_t code_filename;
	uint64_t code_name;
	uint64_t code_qualname; /* 3.11+ */
	uint64_t code_firstlineno;
	uint64_t code_linetable;
	uint64_t code_adaptive; /* 3.11+: the instructions, inside the code object */
	uint64_t unicode_length;
	uint64_t unicode_state;
	uint64_t unicode_ascii_data;   /* sizeof(PyASCIIObject) */
	uint64_t unicode_compact_data; /* sizeof(PyCompactUnicodeObject) */
	uint64_t bytes_size;
	uint64_t bytes_data;
	uint32_t frame_via_cframe;
	uint32_t frame_lasti_is_index; /* 3.10: f_lasti counts code units */
	/* The owner value of the C stack's shim frames, not Python code
	 * (3.12+: FRAME_OWNED_BY_CSTACK); 0: none.
	 */
	uint32_t frame_owner_shim;
};

/* Struct offsets of one CPython minor version (x86-64, default build),
 * measured with offsetof() against its internal headers; 3.13+ take them
 * from _Py_DebugOffsets in the binary instead.
 */
struct python_layout {
	unsigned minor;
	uint64_t runtime_gil;	       /* _PyRuntime.ceval.gil, 0 if per interpreter */
	uint64_t runtime_interp_head;  /* _PyRuntime.interpreters.head */
	uint64_t runtime_head_lock;    /* _PyRuntime.interpreters.mutex, a
					* PyThread_type_lock; 0 on 3.13 (PyMutex) */
	uint64_t interp_ceval_gil;     /* PyInterpreterState.ceval.gil (pointer) */
	uint64_t interp_gc_stats;      /* gc.generation_stats: 3.13 only, where
					* automatic collections pick their
					* generation inside gc_collect_main() */
	uint64_t interp_gc_collecting; /* gc.collecting: a collection is running */
	uint64_t gil_last_holder;      /* in struct _gil_runtime_state */
	uint64_t gil_locked;
	uint64_t gil_cond;
	uint64_t gil_switch_number;	  /* counts GIL handoffs */
	uint64_t tstate_thread_id;	  /* pthread_t */
	uint64_t tstate_native_thread_id; /* 0: absent (3.10) */
	struct python_stack_layout stack;
};

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

struct python_probe_spec {
	const char *name;			/* shown to users */
	const char *symbol;			/* function to probe */
	const char *usdt_start, *usdt_done;	/* provider "python", fallback */
	bool deep;				/* --deep only */
	bool libc;				/* symbol is in libc, not the Python ELF */
	const struct python_recovery *recovery; /* stripped builds; NULL: none */
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
};

extern const struct python_probe_spec python_probes[PY_PROBE_COUNT];

/* Version from Py_Version (3.11+), else from the file name and a version
 * string in the image. -ENOENT if it cannot be told.
 */
int python_build__detect(struct elf_file *ef, const char *path, struct python_build *b);
/* Fills b->layout; -EPROTONOSUPPORT for a version gilwatch does not know. */
int python_build__resolve_layout(struct elf_file *ef, struct python_build *b);
/* Parses _Py_DebugOffsets (3.13) from its raw bytes. */
int python_layout__from_debug_offsets(const void *raw, size_t len, struct python_layout *l);
/* Parses "python3.10", "libpython3.6m.so.1.0", ... */
int python_version__from_filename(const char *path, unsigned *major, unsigned *minor);

#endif
