// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <string.h>

#include "disasm.h"
#include "head_lock_sites.h"
#include "log.h"
#include "symbol_ladder.h"
#include "python_build.h"

#define MAX_CALLS_HOLDING 64

/* The functions that take HEAD_LOCK (PyThread_acquire_lock on
 * _PyRuntime.interpreters.mutex) in 3.10-3.12, from Python/pystate.c,
 * Python/ceval.c, Python/instrumentation.c, Objects/obmalloc.c and
 * Modules/_threadmodule.c of each release, checked against the call sites
 * in the pyenv builds' code. A static function is also listed by the
 * exported ones it is inlined into: only functions that call HEAD_LOCK
 * themselves give sites. docs/verdicts.md says which can sleep holding it.
 */
#define TAKERS_3_10                                                                                \
	"_PyThread_CurrentFrames", "_PyThread_CurrentExceptions", "PyThreadState_SetAsyncExc",     \
	    "_PyThreadState_DeleteExcept", "tstate_delete_common", "PyThreadState_Delete",         \
	    "_PyThreadState_DeleteCurrent", "PyGILState_Release", "new_threadstate",               \
	    "PyThreadState_New", "_PyThreadState_Prealloc", "PyGILState_Ensure",                   \
	    "PyInterpreterState_New", "interpreter_clear", "PyInterpreterState_Clear",             \
	    "PyInterpreterState_Delete", "_PyInterpreterState_DeleteExceptMain",                   \
	    "_PyInterpreterState_LookUpID", "local_clear"

static const char *const takers_3_10[] = {TAKERS_3_10, NULL};
static const char *const takers_3_12[] = {TAKERS_3_10,
					  "PyEval_SetProfileAllThreads",
					  "PyEval_SetTraceAllThreads",
					  "instrument_all_executing_code_objects",
					  "get_num_global_allocated_blocks",
					  NULL};

static const struct {
	unsigned minor;
	const char *const *functions;
} takers[] = {
    {10, takers_3_10},
    {11, takers_3_10},
    {12, takers_3_12},
};

static const char *const release_calls[] = {"PyThread_release_lock", NULL};

static void add_function(struct head_lock_sites *s, const char *name, const uint64_t *ret, int n,
			 uint64_t bias)
{
	int i;

	if (s->nfunctions == GW_MAX_HEAD_LOCK_FUNCTIONS)
		return;
	for (i = 0; i < n && s->n < GW_MAX_HEAD_LOCK_SITES; i++) {
		s->ret[s->n] = bias + ret[i];
		s->function[s->n++] = (uint8_t)s->nfunctions;
	}
	s->functions[s->nfunctions++] = name;
}

void head_lock_sites__resolve(struct head_lock_sites *s, const struct python_build *b,
			      uint64_t bias, struct elf_file *ef, struct symbol_ladder *l)
{
	uint64_t ret[MAX_CALLS_HOLDING];
	const char *const *fns = NULL;
	struct elf_symbol sym;
	size_t i;
	int n;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < sizeof(takers) / sizeof(takers[0]); i++) {
		if (takers[i].minor == b->minor)
			fns = takers[i].functions;
	}
	if (!fns || !b->layout.runtime_head_lock)
		return;
	for (; *fns; fns++) {
		s->listed++;
		if (symbol_ladder__find(l, *fns, NULL, NULL, &sym))
			continue;
		n = disasm__calls_holding(ef, &sym, head_lock_calls, release_calls, ret,
					  MAX_CALLS_HOLDING);
		if (n > 0)
			add_function(s, *fns, ret, n, bias);
	}
	gw_debug("CPython %s: %u calls made holding HEAD_LOCK, in %u of %u functions", b->version,
		 s->n, s->nfunctions, s->listed);
}

const char *head_lock_sites__holder_at(const struct head_lock_sites *s, uint64_t ip)
{
	unsigned i;

	for (i = 0; i < s->n; i++) {
		if (s->ret[i] == ip)
			return s->functions[s->function[i]];
	}
	return NULL;
}
