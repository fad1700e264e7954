/* SPDX-License-Identifier: MIT */
/* Just enough x86-64 disassembly (capstone) to find functions a stripped
 * build does not name, starting from code that is known.
 */
#ifndef GW_DISASM_H
#define GW_DISASM_H

#include <stddef.h>
#include <stdint.h>
#include "elf_file.h"

enum disasm_branch_kind {
	DISASM_CALL,
	DISASM_JMP,
	DISASM_JCC,
	DISASM_END, /* ret, hlt, ud2, int3, a jump through a register */
};

struct disasm_branch {
	enum disasm_branch_kind kind;
	uint64_t insn;	 /* where the instruction is */
	uint64_t next;	 /* where the one after it is */
	uint64_t target; /* a direct branch's destination, else 0 */
	uint64_t slot;	 /* an indirect one through [rip + disp]: that address, else 0 */
};

/* Calls fn for each call and jump in code loaded at vaddr until fn returns
 * non-zero; returns that, 0 at the end of the code, or -errno.
 */
int disasm__for_each_branch(const uint8_t *code, size_t len, uint64_t vaddr,
			    int (*fn)(const struct disasm_branch *b, void *ctx), void *ctx);
/* Targets of the direct jumps (not calls) in code loaded at vaddr, at most
 * max; the number found, or -errno.
 */
int disasm__jump_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out,
			 size_t max);
/* A static function of a stripped build: the first one (breadth first, a
 * few calls deep, through static functions only) reached from an exported
 * caller whose own code — cold parts included — calls every function in
 * calls[] (imports or exports). Every caller in callers[] present in the
 * build must reach the same one; code that does it inline in the caller
 * itself is not a function to probe: -ENOENT. sym gets its CFI bounds.
 * Both lists end with NULL.
 */
int disasm__recover(struct elf_file *ef, const char *const *callers, const char *const *calls,
		    struct elf_symbol *sym);
struct disasm_call_site {
	uint64_t insn; /* the call instruction */
	uint64_t next; /* the instruction after it: where the function resumes */
};

/* The calls fn (a function of ef, its own range) makes to one of callees[]
 * (imports or exports; NULL-terminated), in address order, at most max.
 * Returns how many, -ENOENT if it calls none of them.
 */
int disasm__call_sites(struct elf_file *ef, const struct elf_symbol *fn, const char *const *callees,
		       struct disasm_call_site *out, size_t max);
/* The return addresses of the calls fn makes while it holds a lock: every
 * call reachable from the return of a call to one of acquire[] without
 * passing a call to one of release[], jumps (cold parts included, tail
 * calls not) followed. At most max; the number found, -ENOENT if fn calls
 * none of acquire[].
 */
int disasm__calls_holding(struct elf_file *ef, const struct elf_symbol *fn,
			  const char *const *acquire, const char *const *release, uint64_t *out,
			  size_t max);
/* Where fn (a function of ef, its own range) resumes after its first call
 * of one of callees[] (imports or exports; NULL-terminated): site gets the
 * instruction after that call. -ENOENT if it calls none of them.
 */
int disasm__call_return(struct elf_file *ef, const struct elf_symbol *fn,
			const char *const *callees, struct elf_symbol *site);

#endif
