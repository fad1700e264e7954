/* SPDX-License-Identifier: MIT */
/* Where a CPython build keeps the state gilwatch reads: the offsets that
 * python_build.h's hand tables (3.10-3.12) and debug_offsets.h (3.13+)
 * fill in.
 */
#ifndef GW_PYTHON_LAYOUT_H
#define GW_PYTHON_LAYOUT_H

#include <stdint.h>

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
	/* The first owner value of frames that are no Python code (3.12,
	 * 3.13: FRAME_OWNED_BY_CSTACK; 3.14+: FRAME_OWNED_BY_INTERPRETER, and
	 * those after it); 0: none.
	 */
	uint32_t frame_owner_shim;
	uint32_t frame_code_tagged; /* 3.14+: f_executable is a _PyStackRef (& ~3) */
};

/* Struct offsets of one CPython build (x86-64, with a GIL): 3.10-3.12
 * measured with offsetof() against their internal headers, 3.13+ read
 * from the build's own _Py_DebugOffsets (debug_offsets.h).
 */
struct python_layout {
	unsigned minor;
	uint64_t runtime_gil;	       /* _PyRuntime.ceval.gil, 0 if per interpreter */
	uint64_t runtime_interp_head;  /* _PyRuntime.interpreters.head */
	uint64_t runtime_head_lock;    /* _PyRuntime.interpreters.mutex, a
					* PyThread_type_lock; 0 on 3.13 (PyMutex) */
	uint64_t interp_ceval_gil;     /* PyInterpreterState.ceval.gil (pointer) */
	uint64_t interp_gc_stats;      /* gc.generation_stats: 3.13 and 3.14,
					* where automatic collections pick their
					* generation inside gc_collect_main();
					* 0: not an array (3.15: from USDT) */
	uint64_t interp_gc_collecting; /* gc.collecting: a collection is running */
	uint64_t gil_last_holder;      /* in struct _gil_runtime_state */
	uint64_t gil_locked;
	uint64_t gil_cond;
	uint64_t gil_switch_number;	  /* counts GIL handoffs */
	uint64_t tstate_thread_id;	  /* pthread_t */
	uint64_t tstate_native_thread_id; /* 0: absent (3.10) */
	struct python_stack_layout stack;
};

#endif
