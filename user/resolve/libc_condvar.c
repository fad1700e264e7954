// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "disasm.h"
#include "libc_condvar.h"

struct sleep_search {
	uint64_t push, pop;
	uint64_t call, after; /* the candidate since the last push */
	bool pushed, found;
};

static int visit_call(const struct disasm_branch *b, void *ctx)
{
	struct sleep_search *s = ctx;

	if (b->kind != DISASM_CALL)
		return 0;
	if (b->target == s->push) {
		s->pushed = true;
		s->call = 0;
	} else if (b->target == s->pop) {
		/* Exactly one call in between: the wait itself. */
		if (s->pushed && s->call) {
			s->found = true;
			return 1;
		}
		s->pushed = false;
	} else if (s->pushed) {
		if (s->call) { /* a second call: not the shape looked for */
			s->pushed = false;
			return 0;
		}
		s->call = b->insn;
		s->after = b->next;
	}
	return 0;
}

int libc_condvar__find_sleep(struct elf_file *libc, struct condvar_sleep *out)
{
	struct elf_symbol fn, push, pop;
	struct sleep_search s = {0};
	uint8_t *code;
	int err;

	if (elf_file__find_symbol(libc, "pthread_cond_timedwait", &fn) ||
	    elf_file__find_symbol(libc, "_pthread_cleanup_push", &push) ||
	    elf_file__find_symbol(libc, "_pthread_cleanup_pop", &pop) || !fn.size ||
	    fn.size > 64 * 1024)
		return -ENOENT;
	code = malloc(fn.size);
	if (!code)
		return -ENOMEM;
	err = elf_file__read(libc, fn.vaddr, code, fn.size);
	if (!err) {
		s.push = push.vaddr;
		s.pop = pop.vaddr;
		err = disasm__for_each_branch(code, fn.size, fn.vaddr, visit_call, &s);
	}
	free(code);
	if (err < 0)
		return err;
	if (!s.found)
		return -EPROTO;
	err = elf_file__vaddr_to_offset(libc, s.call, &out->call_offset);
	if (!err)
		err = elf_file__vaddr_to_offset(libc, s.after, &out->after_offset);
	return err;
}
