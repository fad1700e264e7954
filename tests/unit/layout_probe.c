// SPDX-License-Identifier: MIT
/* Built once per CPython version against its internal headers: prints the
 * struct offsets gilwatch's layout table must match (test_python_build).
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#if PY_MINOR_VERSION >= 11
#include "internal/pycore_frame.h"
#else
#include "frameobject.h"
#endif

#define SHOW(name, value) printf("%s %zu\n", name, (size_t)(value))

int main(void)
{
#if PY_MINOR_VERSION <= 11
	SHOW("runtime_gil", offsetof(_PyRuntimeState, ceval.gil));
	SHOW("interp_ceval_gil", 0);
#else
	SHOW("runtime_gil", 0);
	SHOW("interp_ceval_gil", offsetof(PyInterpreterState, ceval.gil));
#endif
	SHOW("runtime_interp_head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_MINOR_VERSION >= 15
	SHOW("interp_gc_stats", 0); /* a pointer to a ring, not the counters */
#elif PY_MINOR_VERSION >= 13
	SHOW("interp_gc_stats", offsetof(PyInterpreterState, gc.generation_stats));
#else
	SHOW("interp_gc_stats", 0);
#endif
#if PY_MINOR_VERSION <= 12
	SHOW("runtime_head_lock", offsetof(_PyRuntimeState, interpreters.mutex));
#else
	SHOW("runtime_head_lock", 0); /* a PyMutex: not a semaphore */
#endif
	SHOW("gil_last_holder", offsetof(struct _gil_runtime_state, last_holder));
	SHOW("gil_locked", offsetof(struct _gil_runtime_state, locked));
	SHOW("gil_cond", offsetof(struct _gil_runtime_state, cond));
	SHOW("gil_switch_number", offsetof(struct _gil_runtime_state, switch_number));
	SHOW("tstate_thread_id", offsetof(PyThreadState, thread_id));
#if PY_MINOR_VERSION >= 11
	SHOW("tstate_native_thread_id", offsetof(PyThreadState, native_thread_id));
#else
	SHOW("tstate_native_thread_id", 0);
#endif

	SHOW("interp_gc_collecting", offsetof(PyInterpreterState, gc.collecting));

	/* Python stacks */
#if PY_MINOR_VERSION == 10
	SHOW("interp_threads_head", offsetof(PyInterpreterState, tstate_head));
	SHOW("tstate_frame", offsetof(PyThreadState, frame));
	SHOW("cframe_current_frame", 0);
	SHOW("frame_via_cframe", 0);
	SHOW("frame_previous", offsetof(PyFrameObject, f_back));
	SHOW("frame_code", offsetof(PyFrameObject, f_code));
	SHOW("frame_instr", offsetof(PyFrameObject, f_lasti));
	SHOW("frame_owner", 0);
	SHOW("frame_owner_shim", 0);
	SHOW("code_qualname", 0);
	SHOW("code_adaptive", 0);
#else
	SHOW("interp_threads_head", offsetof(PyInterpreterState, threads.head));
#if PY_MINOR_VERSION <= 12
	SHOW("tstate_frame", offsetof(PyThreadState, cframe));
	SHOW("cframe_current_frame", offsetof(_PyCFrame, current_frame));
	SHOW("frame_via_cframe", 1);
	SHOW("frame_code", offsetof(_PyInterpreterFrame, f_code));
	SHOW("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#else
	SHOW("tstate_frame", offsetof(PyThreadState, current_frame));
	SHOW("cframe_current_frame", 0);
	SHOW("frame_via_cframe", 0);
	SHOW("frame_code", offsetof(_PyInterpreterFrame, f_executable));
	SHOW("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
#endif
	SHOW("frame_previous", offsetof(_PyInterpreterFrame, previous));
	SHOW("frame_owner", offsetof(_PyInterpreterFrame, owner));
#if PY_MINOR_VERSION >= 14
	/* The first owner that is no Python code; the others follow it. */
	SHOW("frame_owner_shim", FRAME_OWNED_BY_INTERPRETER);
#elif PY_MINOR_VERSION >= 12
	SHOW("frame_owner_shim", FRAME_OWNED_BY_CSTACK);
#else
	SHOW("frame_owner_shim", 0);
#endif
	SHOW("code_qualname", offsetof(PyCodeObject, co_qualname));
	SHOW("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
#endif
	SHOW("frame_code_tagged", PY_MINOR_VERSION >= 14); /* a _PyStackRef */
	SHOW("tstate_next", offsetof(PyThreadState, next));
	SHOW("code_filename", offsetof(PyCodeObject, co_filename));
	SHOW("code_name", offsetof(PyCodeObject, co_name));
	SHOW("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
	SHOW("code_linetable", offsetof(PyCodeObject, co_linetable));
	SHOW("unicode_length", offsetof(PyASCIIObject, length));
	SHOW("unicode_state", offsetof(PyASCIIObject, state));
	SHOW("unicode_ascii_data", sizeof(PyASCIIObject));
	SHOW("unicode_compact_data", sizeof(PyCompactUnicodeObject));
	SHOW("bytes_size", offsetof(PyVarObject, ob_size));
	SHOW("bytes_data", offsetof(PyBytesObject, ob_sval));
	return 0;
}
