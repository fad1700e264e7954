/* SPDX-License-Identifier: MIT */
/* Just enough x86-64 disassembly (capstone) to find functions a stripped
 * build does not name, starting from code that is known.
 */
#ifndef GW_DISASM_H
#define GW_DISASM_H

#include <stddef.h>
#include <stdint.h>

/* Targets of the direct jumps (not calls) in code loaded at vaddr, at most
 * max; the number found, or -errno.
 */
int disasm__jump_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out,
			 size_t max);

#endif
