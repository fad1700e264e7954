// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#include "debug_offsets.h"
#include "python_layout.h"

/* The parts every version shares, in order. */
#define DBG_HEADER                                                                                 \
	char cookie[8]; /* "xdebugpy" */                                                           \
	__u64 version;	/* PY_VERSION_HEX */                                                       \
	__u64 free_threaded;                                                                       \
	struct {                                                                                   \
		__u64 size, finalizing, interpreters_head;                                         \
	} runtime_state;

struct sized_pair {
	__u64 size, a, b;
};

struct sized_one {
	__u64 size, a;
};

/* 3.13: Include/internal/pycore_runtime.h. */
struct debug_offsets_313 {
	DBG_HEADER
	struct {
		__u64 size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
		    ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
		    gil_runtime_state_locked, gil_runtime_state_holder;
	} interpreter_state;
	struct {
		__u64 size, prev, next, interp, current_frame, thread_id, native_thread_id,
		    datastack_chunk, status;
	} thread_state;
	struct {
		__u64 size, previous, executable, instr_ptr, localsplus, owner;
	} interpreter_frame;
	struct {
		__u64 size, filename, name, qualname, linetable, firstlineno, argcount,
		    localsplusnames, localspluskinds, co_code_adaptive;
	} code_object;
	struct {
		__u64 size, ob_type;
	} pyobject;
	struct {
		__u64 size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct sized_pair tuple_object, list_object, dict_object;
	struct {
		__u64 size, ob_fval;
	} float_object;
	struct sized_pair long_object, bytes_object;
	struct {
		__u64 size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		__u64 size, collecting;
	} gc;
};
_Static_assert(sizeof(struct debug_offsets_313) == 584, "3.13 _Py_DebugOffsets");

/* Parts 3.15 kept from 3.14. */
struct dbg_interp_314 {
	__u64 size, id, next, threads_head, threads_main, gc, imports_modules, sysdict, builtins,
	    ceval_gil, gil_runtime_state, gil_runtime_state_enabled, gil_runtime_state_locked,
	    gil_runtime_state_holder, code_object_generation, tlbc_generation;
};
struct dbg_frame_314 {
	__u64 size, previous, executable, instr_ptr, localsplus, owner, stackpointer, tlbc_index;
};
struct dbg_code_314 {
	__u64 size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames,
	    localspluskinds, co_code_adaptive, co_tlbc;
};
struct dbg_set {
	__u64 size, used, table, mask;
};
struct dbg_tail_314 {
	struct {
		__u64 size, gi_name, gi_iframe, gi_frame_state;
	} gen_object;
	struct {
		__u64 next, prev;
	} llist_node;
	struct {
		__u64 eval_breaker, remote_debugger_support, remote_debugging_enabled,
		    debugger_pending_call, debugger_script_path, debugger_script_path_size;
	} debugger_support;
};

/* 3.14: Include/internal/pycore_debug_offsets.h. */
struct debug_offsets_314 {
	DBG_HEADER
	struct dbg_interp_314 interpreter_state;
	struct {
		__u64 size, prev, next, interp, current_frame, thread_id, native_thread_id,
		    datastack_chunk, status;
	} thread_state;
	struct dbg_frame_314 interpreter_frame;
	struct dbg_code_314 code_object;
	struct sized_one pyobject;
	struct {
		__u64 size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct sized_pair tuple_object, list_object;
	struct dbg_set set_object;
	struct sized_pair dict_object;
	struct sized_one float_object;
	struct sized_pair long_object, bytes_object;
	struct {
		__u64 size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		__u64 size, collecting;
	} gc;
	struct dbg_tail_314 tail;
};
_Static_assert(sizeof(struct debug_offsets_314) == 760, "3.14 _Py_DebugOffsets");

/* 3.15: Include/internal/pycore_debug_offsets.h. */
struct debug_offsets_315 {
	DBG_HEADER
	struct dbg_interp_314 interpreter_state;
	struct {
		__u64 size, prev, next, interp, current_frame, base_frame, last_profiled_frame,
		    last_profiled_frame_seq, thread_id, native_thread_id, datastack_chunk, status,
		    holds_gil, gil_requested, current_exception, exc_state;
	} thread_state;
	struct {
		__u64 exc_value;
	} err_stackitem;
	struct dbg_frame_314 interpreter_frame;
	struct dbg_code_314 code_object;
	struct sized_one pyobject;
	struct {
		__u64 size, tp_name, tp_repr, tp_flags, tp_basicsize, tp_dictoffset;
	} type_object;
	struct {
		__u64 size, ht_cached_keys;
	} heap_type_object;
	struct sized_pair tuple_object, list_object;
	struct dbg_set set_object;
	struct sized_pair dict_object;
	struct sized_one float_object;
	struct sized_pair long_object, bytes_object;
	struct {
		__u64 size, state, length, asciiobject_size, compactunicodeobject_size;
	} unicode_object;
	struct {
		__u64 size, collecting, frame, generation_stats_size, generation_stats;
	} gc;
	struct dbg_tail_314 tail;
};
_Static_assert(sizeof(struct debug_offsets_315) == 888, "3.15 _Py_DebugOffsets");

/* _Py_MAX_SCRIPT_PATH_SIZE: the last field of 3.14+ tables, a check that
 * the whole layout is the one assumed.
 */
#define SCRIPT_PATH_SIZE 512
/* struct _gc_runtime_state keeps generation_stats[3] (24 bytes each) just
 * before collecting in 3.13 and 3.14; 3.15 points to a ring instead.
 */
#define GC_STATS_BEFORE_COLLECTING (3 * 24)
/* PyCompactUnicodeObject adds utf8_length and utf8 to PyASCIIObject. */
#define COMPACT_UNICODE_EXTRA 16
/* The first frame owner that is no Python code: 3.13's
 * FRAME_OWNED_BY_CSTACK, 3.14+'s FRAME_OWNED_BY_INTERPRETER (3.14's CSTACK
 * is 4, 3.15's thread-state base frame too).
 */
#define FIRST_SHIM_OWNER 3

/* The fields all three versions publish, taken from any of them. */
#define COMMON_FIELDS(l, d)                                                                        \
	do {                                                                                       \
		(l)->runtime_interp_head = (d)->runtime_state.interpreters_head;                   \
		(l)->interp_ceval_gil = (d)->interpreter_state.ceval_gil;                          \
		(l)->interp_gc_collecting = (d)->interpreter_state.gc + (d)->gc.collecting;        \
		(l)->gil_locked = (d)->interpreter_state.gil_runtime_state_locked -                \
				  (d)->interpreter_state.gil_runtime_state;                        \
		(l)->gil_last_holder = (d)->interpreter_state.gil_runtime_state_holder -           \
				       (d)->interpreter_state.gil_runtime_state;                   \
		(l)->tstate_thread_id = (d)->thread_state.thread_id;                               \
		(l)->tstate_native_thread_id = (d)->thread_state.native_thread_id;                 \
		(l)->stack.interp_threads_head = (d)->interpreter_state.threads_head;              \
		(l)->stack.tstate_next = (d)->thread_state.next;                                   \
		(l)->stack.tstate_frame = (d)->thread_state.current_frame;                         \
		(l)->stack.frame_previous = (d)->interpreter_frame.previous;                       \
		(l)->stack.frame_code = (d)->interpreter_frame.executable;                         \
		(l)->stack.frame_instr = (d)->interpreter_frame.instr_ptr;                         \
		(l)->stack.frame_owner = (d)->interpreter_frame.owner;                             \
		(l)->stack.code_filename = (d)->code_object.filename;                              \
		(l)->stack.code_name = (d)->code_object.name;                                      \
		(l)->stack.code_qualname = (d)->code_object.qualname;                              \
		(l)->stack.code_firstlineno = (d)->code_object.firstlineno;                        \
		(l)->stack.code_linetable = (d)->code_object.linetable;                            \
		(l)->stack.code_adaptive = (d)->code_object.co_code_adaptive;                      \
		(l)->stack.unicode_length = (d)->unicode_object.length;                            \
		(l)->stack.unicode_state = (d)->unicode_object.state;                              \
		(l)->stack.unicode_ascii_data = (d)->unicode_object.asciiobject_size;              \
		(l)->stack.bytes_size = (d)->bytes_object.a;                                       \
		(l)->stack.bytes_data = (d)->bytes_object.b;                                       \
		/* A wrong layout reads sizes as offsets: each field inside its struct. */         \
		if ((d)->interpreter_state.gil_runtime_state_locked <                              \
			(d)->interpreter_state.gil_runtime_state ||                                \
		    (d)->interpreter_state.gil_runtime_state_holder <                              \
			(d)->interpreter_state.gil_runtime_state ||                                \
		    (d)->thread_state.native_thread_id >= (d)->thread_state.size ||                \
		    (d)->thread_state.current_frame >= (d)->thread_state.size ||                   \
		    (d)->interpreter_frame.owner >= (d)->interpreter_frame.size ||                 \
		    (d)->code_object.co_code_adaptive > (d)->code_object.size ||                   \
		    (d)->interpreter_state.gc >= (d)->interpreter_state.size ||                    \
		    (d)->gc.collecting >= (d)->gc.size)                                            \
			return -EINVAL;                                                            \
	} while (0)

static int parse_313(const struct debug_offsets_313 *d, struct python_layout *l)
{
	COMMON_FIELDS(l, d);
	l->interp_gc_stats = l->interp_gc_collecting - GC_STATS_BEFORE_COLLECTING;
	l->stack.unicode_compact_data = l->stack.unicode_ascii_data + COMPACT_UNICODE_EXTRA;
	return 0;
}

static int parse_314(const struct debug_offsets_314 *d, struct python_layout *l)
{
	if (d->tail.debugger_support.debugger_script_path_size != SCRIPT_PATH_SIZE)
		return -EINVAL;
	COMMON_FIELDS(l, d);
	l->interp_gc_stats = l->interp_gc_collecting - GC_STATS_BEFORE_COLLECTING;
	l->stack.unicode_compact_data = l->stack.unicode_ascii_data + COMPACT_UNICODE_EXTRA;
	l->stack.frame_code_tagged = 1;
	return 0;
}

static int parse_315(const struct debug_offsets_315 *d, struct python_layout *l)
{
	if (d->tail.debugger_support.debugger_script_path_size != SCRIPT_PATH_SIZE)
		return -EINVAL;
	COMMON_FIELDS(l, d);
	/* A ring of per-collection records: the generation comes from USDT. */
	l->interp_gc_stats = 0;
	l->stack.unicode_compact_data = d->unicode_object.compactunicodeobject_size;
	l->stack.frame_code_tagged = 1;
	return 0;
}

int debug_offsets__parse(const void *raw, size_t len, struct python_layout *l,
			 struct debug_offsets_id *id)
{
	const struct debug_offsets_313 *head = raw;
	union {
		struct debug_offsets_313 v13;
		struct debug_offsets_314 v14;
		struct debug_offsets_315 v15;
	} d;
	size_t need;

	memset(id, 0, sizeof(*id));
	if (len < sizeof(d.v13))
		return -EINVAL;
	if (memcmp(head->cookie, "xdebugpy", sizeof(head->cookie)))
		return -ENOENT;
	id->major = (head->version >> 24) & 0xff;
	id->minor = (head->version >> 16) & 0xff;
	id->free_threaded = head->free_threaded != 0;
	need = id->minor == 13 ? sizeof(d.v13) : id->minor == 14 ? sizeof(d.v14) : sizeof(d.v15);
	if (id->major != 3 || id->minor < 13 || id->minor > 15 || id->free_threaded)
		return -EPROTONOSUPPORT;
	if (len < need)
		return -EINVAL;
	memcpy(&d, raw, need);
	memset(l, 0, sizeof(*l));
	l->minor = id->minor;
	/* Not published, and the same in 3.13-3.15 (test_python_build). */
	l->gil_cond = 32;
	l->gil_switch_number = 24;
	l->stack.frame_owner_shim = FIRST_SHIM_OWNER;
	if (id->minor == 13)
		return parse_313(&d.v13, l);
	if (id->minor == 14)
		return parse_314(&d.v14, l);
	return parse_315(&d.v15, l);
}
