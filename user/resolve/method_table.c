// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>

#include "disasm.h"
#include "elf_data.h"
#include "method_table.h"

#define CANDIDATES 8
#define METH_FLAGS_MAX 0x1ff /* METH_* bits: a real entry's ml_flags */
#define CALL_DEPTH 3	     /* the clinic wrapper, its _impl, the callee */
#define FIRST_BYTES 256	     /* where an implementation makes its first call */

/* The ml_meth of the method table entry named name. */
static int method_function(struct elf_file *ef, const char *name, uint64_t *meth)
{
	uint64_t strings[CANDIDATES], slots[CANDIDATES], flags;
	size_t ns, np, i, j;

	ns = elf_data__strings(ef, name, strings, CANDIDATES);
	for (i = 0; i < ns; i++) {
		np = elf_data__pointers_to(ef, strings[i], slots, CANDIDATES);
		for (j = 0; j < np; j++) {
			if (elf_file__read(ef, slots[j] + 16, &flags, sizeof(flags)) ||
			    flags > METH_FLAGS_MAX ||
			    elf_data__pointer_at(ef, slots[j] + 8, meth) || !*meth)
				continue;
			return 0;
		}
	}
	return -ENOENT;
}

static int first_call(const struct disasm_branch *b, void *ctx)
{
	uint64_t *target = ctx;

	if (b->kind == DISASM_END)
		return 1;
	if ((b->kind == DISASM_CALL || b->kind == DISASM_JMP) && b->target) {
		*target = b->target;
		return 1;
	}
	return 0;
}

/* The function fn calls or tails into first; 0 if none. */
static uint64_t callee(struct elf_file *ef, uint64_t fn)
{
	uint8_t code[FIRST_BYTES];
	uint64_t target = 0, start, end;
	size_t len = sizeof(code);

	if (!elf_file__function_range(ef, fn, &start, &end) && end - fn < len)
		len = end - fn;
	if (elf_file__read(ef, fn, code, len))
		return 0;
	disasm__for_each_branch(code, len, fn, first_call, &target);
	return target;
}

/* Whether fn's code (its CFI range) calls marker. */
static bool calls(struct elf_file *ef, uint64_t fn, const char *marker)
{
	const char *const callees[] = {marker, NULL};
	struct disasm_call_site site;
	struct elf_symbol sym = {.vaddr = fn};
	uint64_t start, end;

	if (elf_file__function_range(ef, fn, &start, &end) || start != fn)
		return false;
	sym.size = end - start;
	return disasm__call_sites(ef, &sym, callees, &site, 1) > 0;
}

/* The first function on method's chain of first calls that calls marker:
 * the implementation itself when link-time optimization inlined it.
 */
static uint64_t implementation(struct elf_file *ef, const char *method, const char *marker)
{
	uint64_t fn;
	int depth;

	if (method_function(ef, method, &fn))
		return 0;
	for (depth = 0; fn && depth <= CALL_DEPTH; depth++, fn = callee(ef, fn)) {
		if (calls(ef, fn, marker))
			return fn;
	}
	return 0;
}

int method_table__callee(struct elf_file *ef, const char *method, const char *marker,
			 const char *check_method, const char *check_fn, struct elf_symbol *sym)
{
	struct elf_symbol check;

	/* The same way must lead to the exported sibling. */
	if (elf_file__find_symbol(ef, check_fn, &check) ||
	    implementation(ef, check_method, marker) != check.vaddr)
		return -ENOENT;
	return elf_file__function_at(ef, implementation(ef, method, marker), ELF_SYM_DISASM, sym);
}
