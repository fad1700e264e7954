// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <string.h>

#include "disasm.h"
#include "head_lock_sites.h"
#include "log.h"
#include "symbol_ladder.h"
#include "python_build.h"

#define MAX_CALLS_HOLDING 64

/* The functions that take HEAD_LOCK, by minor version, from
 * Python/pystate.c, Python/ceval.c, Modules/_threadmodule.c and
 * Python/pylifecycle.c of each release (docs/verdicts.md lists them).
 */
static const char *const takers_3_10[] = {
    "_PyThread_CurrentFrames",
    "_PyThread_CurrentExceptions",
    "PyThreadState_SetAsyncExc",
    "_PyThreadState_DeleteExcept",
    "tstate_delete_common",
    "new_threadstate",
    "PyInterpreterState_New",
    "PyInterpreterState_Delete",
    "PyInterpreterState_Clear",
    "_PyInterpreterState_DeleteExceptMain",
    "interpreter_clear",
    "local_clear",
    NULL,
};

static const struct {
	unsigned minor;
	const char *const *functions;
} takers[] = {
    {10, takers_3_10},
    {11, takers_3_10},
    {12, takers_3_10},
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
