// SPDX-License-Identifier: MIT
#include <capstone/capstone.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"

typedef int (*branch_fn)(const struct disasm_branch *b, void *ctx);

struct decoder {
	csh h;
	cs_insn *insn;
	bool ends; /* report DISASM_END too */
};

static int decoder__open(struct decoder *d)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(d->h, CS_OPT_DETAIL, CS_OPT_ON);
	d->insn = cs_malloc(d->h);
	if (!d->insn) {
		cs_close(&d->h);
		return -ENOMEM;
	}
	return 0;
}

static void decoder__close(struct decoder *d)
{
	cs_free(d->insn, 1);
	cs_close(&d->h);
}

/* A linear sweep: GCC keeps jump tables out of .text, so it stays in step. */
static int decoder__branches(struct decoder *d, const uint8_t *code, size_t len, uint64_t vaddr,
			     branch_fn fn, void *ctx)
{
	uint64_t addr = vaddr;
	size_t left = len;
	int ret;

	while (cs_disasm_iter(d->h, &code, &left, &addr, d->insn)) {
		const cs_x86 *x = &d->insn->detail->x86;
		const cs_x86_op *op = &x->operands[0];
		struct disasm_branch b = {.insn = d->insn->address};

		b.next = addr;
		if (cs_insn_group(d->h, d->insn, CS_GRP_CALL))
			b.kind = DISASM_CALL;
		else if (cs_insn_group(d->h, d->insn, CS_GRP_JUMP))
			b.kind = d->insn->id == X86_INS_JMP ? DISASM_JMP : DISASM_JCC;
		else if (d->ends &&
			 (cs_insn_group(d->h, d->insn, CS_GRP_RET) || d->insn->id == X86_INS_HLT ||
			  d->insn->id == X86_INS_UD2 || d->insn->id == X86_INS_INT3))
			b.kind = DISASM_END;
		else
			continue;
		if (b.kind == DISASM_END || (d->ends && b.kind == DISASM_JMP && x->op_count == 1 &&
					     op->type == X86_OP_REG)) {
			/* Flow ends here, or goes where a linear sweep cannot tell. */
			b.kind = DISASM_END;
			ret = fn(&b, ctx);
			if (ret)
				return ret;
			continue;
		}
		if (x->op_count != 1)
			continue;
		if (op->type == X86_OP_IMM)
			b.target = op->imm;
		else if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP &&
			 op->mem.index == X86_REG_INVALID)
			b.slot = addr + op->mem.disp; /* addr is the next instruction's */
		else
			continue;
		ret = fn(&b, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int disasm__for_each_branch(const uint8_t *code, size_t len, uint64_t vaddr, branch_fn fn,
			    void *ctx)
{
	struct decoder d;
	int err = decoder__open(&d);

	if (err)
		return err;
	err = decoder__branches(&d, code, len, vaddr, fn, ctx);
	decoder__close(&d);
	return err;
}

struct targets {
	uint64_t *out;
	size_t n, max;
};

static int add_jump_target(const struct disasm_branch *b, void *ctx)
{
	struct targets *t = ctx;

	if (b->kind != DISASM_CALL && b->target)
		t->out[t->n++] = b->target;
	return t->n == t->max;
}

int disasm__jump_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out, size_t max)
{
	struct targets t = {out, 0, max};
	int err = max ? disasm__for_each_branch(code, len, vaddr, add_jump_target, &t) : 0;

	return err < 0 ? err : (int)t.n;
}

/* ---- recovering a static function from its exported callers ---- */

#define MAX_CALLS 4	     /* in a rule's calls[] */
#define MAX_DEPTH 4	     /* calls from the exported caller */
#define MAX_FUNCS 64	     /* functions looked at per caller */
#define MAX_PARTS 8	     /* a function's own range plus cold parts */
#define MAX_CODE (256 << 10) /* bytes decoded per part */
#define PLT_STUB_LEN 16

struct recovery {
	struct elf_file *ef;
	struct decoder d;
	uint64_t *exports; /* sorted */
	size_t nexports;
	/* What the wanted function calls: an address (a definition in this
	 * file) or a GOT slot (an import, through a PLT stub or -fno-plt).
	 */
	struct {
		uint64_t addr, slot;
	} want[MAX_CALLS];
	unsigned nwant;
	/* The breadth-first walk from one caller. */
	uint64_t func[MAX_FUNCS];
	unsigned depth[MAX_FUNCS], nfunc;
	/* The function being read: its parts and what it calls. */
	struct {
		uint64_t start, end;
	} part[MAX_PARTS];
	unsigned nparts, depth_now, seen;
	uint8_t code[MAX_CODE];
};

static int cmp_addr(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool exported(const struct recovery *r, uint64_t addr)
{
	return bsearch(&addr, r->exports, r->nexports, sizeof(addr), cmp_addr) != NULL;
}

static int first_branch_slot(const struct disasm_branch *b, void *ctx)
{
	uint64_t *slot = ctx;

	*slot = b->kind == DISASM_JMP ? b->slot : 0;
	return 1;
}

/* A PLT stub ([endbr64;] jmp *slot(%rip)) at addr: the slot it jumps through. */
static uint64_t plt_slot(struct recovery *r, uint64_t addr)
{
	uint8_t code[PLT_STUB_LEN];
	uint64_t slot = 0;
	size_t skip = 0;

	if (elf_file__read(r->ef, addr, code, sizeof(code)))
		return 0;
	if (!memcmp(code, "\xf3\x0f\x1e\xfa", 4)) /* endbr64 */
		skip = 4;
	if (decoder__branches(&r->d, code + skip, sizeof(code) - skip, addr + skip,
			      first_branch_slot, &slot) != 1)
		return 0;
	return slot;
}

static void note_call(struct recovery *r, uint64_t addr, uint64_t slot)
{
	unsigned i;

	for (i = 0; i < r->nwant; i++) {
		if ((addr && r->want[i].addr == addr) || (slot && r->want[i].slot == slot))
			r->seen |= 1u << i;
	}
}

static bool in_parts(const struct recovery *r, uint64_t addr)
{
	unsigned i;

	for (i = 0; i < r->nparts; i++) {
		if (addr >= r->part[i].start && addr < r->part[i].end)
			return true;
	}
	return false;
}

static void enqueue(struct recovery *r, uint64_t addr, unsigned depth)
{
	unsigned i;

	for (i = 0; i < r->nfunc; i++) {
		if (r->func[i] == addr)
			return;
	}
	if (r->nfunc < MAX_FUNCS && depth <= MAX_DEPTH) {
		r->func[r->nfunc] = addr;
		r->depth[r->nfunc++] = depth;
	}
}

static int visit_branch(const struct disasm_branch *b, void *ctx)
{
	struct recovery *r = ctx;
	uint64_t t = b->target, start, end, slot;

	if (b->slot) {
		if (b->kind != DISASM_JCC)
			note_call(r, 0, b->slot);
		return 0;
	}
	if (in_parts(r, t))
		return 0;
	if (exported(r, t)) {
		note_call(r, t, 0);
		return 0;
	}
	/* Before the CFI: one FDE covers the whole .plt. */
	slot = plt_slot(r, t);
	if (slot) {
		note_call(r, 0, slot);
		return 0;
	}
	if (elf_file__function_range(r->ef, t, &start, &end))
		return 0; /* not code we know */
	if (start == t) {
		/* A call or a tail call: another function. */
		enqueue(r, t, r->depth_now + 1);
	} else if (b->kind != DISASM_CALL && r->nparts < MAX_PARTS) {
		/* A jump into the middle of other code: this function's cold part. */
		r->part[r->nparts].start = start;
		r->part[r->nparts++].end = end;
	}
	return 0;
}

/* Reads the function at addr (and its cold parts); whether it calls all
 * of want[].
 */
static int read_function(struct recovery *r, uint64_t addr, unsigned depth, bool *match)
{
	unsigned i;
	int err = 0;

	if (elf_file__function_range(r->ef, addr, &r->part[0].start, &r->part[0].end) ||
	    r->part[0].start != addr)
		return -ENOENT;
	r->nparts = 1;
	r->depth_now = depth;
	r->seen = 0;
	for (i = 0; i < r->nparts && !err; i++) {
		uint64_t len = r->part[i].end - r->part[i].start;

		len = len < MAX_CODE ? len : MAX_CODE;
		if (elf_file__read(r->ef, r->part[i].start, r->code, len))
			continue;
		err = decoder__branches(&r->d, r->code, len, r->part[i].start, visit_branch, r);
	}
	*match = r->seen == (1u << r->nwant) - 1;
	return err;
}

/* The first function reached from the exported caller that matches. */
static int walk_from(struct recovery *r, uint64_t caller, uint64_t *found)
{
	unsigned i;
	bool match;
	int err;

	r->nfunc = 0;
	enqueue(r, caller, 0);
	for (i = 0; i < r->nfunc; i++) {
		err = read_function(r, r->func[i], r->depth[i], &match);
		if (err && i == 0)
			return err;
		if (!err && match) {
			if (i == 0)
				return -ENOENT; /* inlined into the caller */
			*found = r->func[i];
			return 0;
		}
	}
	return -ENOENT;
}

static int want_calls(struct recovery *r, const char *const *calls)
{
	struct elf_symbol sym;

	for (r->nwant = 0; calls[r->nwant]; r->nwant++) {
		if (r->nwant == MAX_CALLS)
			return -E2BIG;
		r->want[r->nwant].addr =
		    elf_file__find_symbol(r->ef, calls[r->nwant], &sym) ? 0 : sym.vaddr;
		if (elf_file__got_slot(r->ef, calls[r->nwant], &r->want[r->nwant].slot))
			r->want[r->nwant].slot = 0;
		if (!r->want[r->nwant].addr && !r->want[r->nwant].slot)
			return -ENOENT; /* never called from this file */
	}
	return r->nwant ? 0 : -EINVAL;
}

/* A recovery over ef looking for calls[]; freed with recovery__free. */
static int recovery__new(struct elf_file *ef, const char *const *calls, struct recovery **out)
{
	struct recovery *r = calloc(1, sizeof(*r));
	int err;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->ef = ef;
	err = decoder__open(&r->d);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return want_calls(r, calls);
}

static void recovery__free(struct recovery *r)
{
	if (!r)
		return;
	free(r->exports);
	decoder__close(&r->d);
	free(r);
}

int disasm__recover(struct elf_file *ef, const char *const *callers, const char *const *calls,
		    struct elf_symbol *sym)
{
	uint64_t start = 0, found, end;
	struct elf_symbol caller;
	struct recovery *r;
	int err;

	err = recovery__new(ef, calls, &r);
	if (!err)
		err = elf_file__exported_functions(ef, &r->exports, &r->nexports);
	for (; !err && *callers; callers++) {
		if (elf_file__find_symbol(ef, *callers, &caller))
			continue; /* not in this build */
		err = walk_from(r, caller.vaddr, &found);
		if (!err && start && found != start)
			err = -ENOENT; /* the callers disagree */
		start = found;
	}
	if (!err && !start)
		err = -ENOENT;
	if (!err)
		err = elf_file__function_range(ef, start, &found, &end);
	if (!err) {
		sym->vaddr = start;
		sym->size = end - start;
		sym->source = ELF_SYM_DISASM;
		err = elf_file__vaddr_to_offset(ef, start, &sym->file_offset);
	}
	recovery__free(r);
	return err;
}

/* ---- where a known function calls what ---- */

/* Whether b calls one of r's wanted functions, directly or through the PLT. */
static bool calls_wanted(struct recovery *r, const struct disasm_branch *b)
{
	uint64_t slot = b->slot;

	if (b->kind != DISASM_CALL)
		return false;
	if (!slot && b->target)
		slot = plt_slot(r, b->target);
	r->seen = 0;
	note_call(r, b->target, slot);
	return r->seen != 0;
}

struct call_sites {
	struct recovery *r;
	struct disasm_call_site *out;
	size_t n, max;
};

static int wanted_call(const struct disasm_branch *b, void *ctx)
{
	struct call_sites *c = ctx;

	if (!calls_wanted(c->r, b))
		return 0;
	c->out[c->n++] = (struct disasm_call_site){.insn = b->insn, .next = b->next};
	return c->n == c->max;
}

int disasm__call_sites(struct elf_file *ef, const struct elf_symbol *fn, const char *const *callees,
		       struct disasm_call_site *out, size_t max)
{
	struct call_sites c = {.out = out, .max = max};
	uint64_t start, end;
	int err;

	if (!max)
		return -EINVAL;
	err = recovery__new(ef, callees, &c.r);
	if (!err)
		err = elf_file__function_range(ef, fn->vaddr, &start, &end);
	if (!err && (start != fn->vaddr || end - start > MAX_CODE))
		err = -ENOENT;
	if (!err)
		err = elf_file__read(ef, start, c.r->code, end - start);
	if (!err)
		err = decoder__branches(&c.r->d, c.r->code, end - start, start, wanted_call, &c);
	recovery__free(c.r);
	if (err < 0)
		return err;
	return c.n ? (int)c.n : -ENOENT;
}

int disasm__call_return(struct elf_file *ef, const struct elf_symbol *fn,
			const char *const *callees, struct elf_symbol *site)
{
	struct disasm_call_site first;
	int err;

	err = disasm__call_sites(ef, fn, callees, &first, 1);
	if (err < 0)
		return err;
	*site = (struct elf_symbol){.vaddr = first.next, .source = fn->source};
	return elf_file__vaddr_to_offset(ef, site->vaddr, &site->file_offset);
}

/* ---- the calls a function makes while it holds a lock ---- */

#define MAX_BLOCKS 512
#define BLOCK_READ 4096

struct held_walk {
	struct recovery *r; /* wanted: the release functions */
	uint64_t fn_start, fn_end;
	uint64_t block[MAX_BLOCKS];
	size_t nblocks;
	uint64_t *out;
	size_t n, max;
};

static void walk_enqueue(struct held_walk *w, uint64_t addr)
{
	uint64_t start, end;
	size_t i;

	/* A jump to another function's entry is a tail call: its frame is not
	 * this function's, and its calls hold nothing of ours in other callers.
	 */
	if ((addr < w->fn_start || addr >= w->fn_end) &&
	    (elf_file__function_range(w->r->ef, addr, &start, &end) || start == addr))
		return;
	for (i = 0; i < w->nblocks; i++) {
		if (w->block[i] == addr)
			return;
	}
	if (w->nblocks < MAX_BLOCKS)
		w->block[w->nblocks++] = addr;
}

static int walk_branch(const struct disasm_branch *b, void *ctx)
{
	struct held_walk *w = ctx;
	size_t i;

	switch (b->kind) {
	case DISASM_CALL:
		if (calls_wanted(w->r, b))
			return 1; /* released: this path holds nothing further */
		for (i = 0; i < w->n && w->out[i] != b->next; i++)
			;
		if (i == w->n && w->n < w->max)
			w->out[w->n++] = b->next;
		return 0;
	case DISASM_JCC:
		if (b->target)
			walk_enqueue(w, b->target);
		return 0;
	case DISASM_JMP:
		if (b->target)
			walk_enqueue(w, b->target);
		return 1;
	case DISASM_END:
		return 1;
	}
	return 1;
}

int disasm__calls_holding(struct elf_file *ef, const struct elf_symbol *fn,
			  const char *const *acquire, const char *const *release, uint64_t *out,
			  size_t max)
{
	struct disasm_call_site acq[8];
	struct held_walk w = {.out = out, .max = max};
	size_t i, len;
	int nacq, err, ret, n;

	nacq = disasm__call_sites(ef, fn, acquire, acq, sizeof(acq) / sizeof(acq[0]));
	if (nacq < 0)
		return nacq;
	err = recovery__new(ef, release, &w.r);
	if (!err)
		err = elf_file__function_range(ef, fn->vaddr, &w.fn_start, &w.fn_end);
	if (err)
		goto out;
	w.r->d.ends = true;
	for (i = 0; i < (size_t)nacq; i++)
		walk_enqueue(&w, acq[i].next);
	for (i = 0; i < w.nblocks; i++) {
		/* The last block of a section may be shorter than a read. */
		for (len = BLOCK_READ; len >= 64; len /= 2) {
			if (!elf_file__read(ef, w.block[i], w.r->code, len))
				break;
		}
		if (len < 64)
			continue;
		ret = decoder__branches(&w.r->d, w.r->code, len, w.block[i], walk_branch, &w);
		if (ret < 0) {
			err = ret;
			goto out;
		}
	}
	/* A path back to a HEAD_LOCK call is a second wait, not a hold. */
	for (i = 0; i < w.n; i++) {
		for (n = 0; n < nacq && out[i] != acq[n].next; n++)
			;
		if (n < nacq)
			out[i--] = out[--w.n];
	}
	err = (int)w.n;
out:
	recovery__free(w.r);
	return err;
}
