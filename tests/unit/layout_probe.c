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
#if PY_MINOR_VERSION >= 13
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
	return 0;
}
