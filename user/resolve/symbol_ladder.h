/* SPDX-License-Identifier: MIT */
/* Where a function of a CPython build lives, also when the build is
 * stripped: each source in turn (docs/probes.md, "Stripped builds").
 *   1. .symtab (or .dynsym for an exported function)
 *   2. .gnu_debugdata: MiniDebugInfo, an xz-compressed ELF with a .symtab
 *   3. a debug file found by build-id under each debug directory
 *   4. (USDT: the caller's choice, before 5)
 *   5. the disassembly of exported callers (disasm__recover())
 * Debug images give addresses only: file offsets are the binary's own.
 */
#ifndef GW_SYMBOL_LADDER_H
#define GW_SYMBOL_LADDER_H

#include <stddef.h>
#include "elf_file.h"

/* Beyond this a .gnu_debugdata is refused, not decompressed: MiniDebugInfo
 * holds function symbols only (a few hundred KiB for libpython).
 */
#define SYMBOL_LADDER_XZ_MAX (64u << 20)

struct symbol_ladder {
	struct elf_file *ef;	       /* the binary, borrowed */
	const char *const *debug_dirs; /* e.g. /usr/lib/debug; NULL-terminated */
	struct elf_file debugdata, debuginfo;
	int debugdata_err, debuginfo_err; /* each opened on first need */
};

void symbol_ladder__init(struct symbol_ladder *l, struct elf_file *ef,
			 const char *const *debug_dirs);
void symbol_ladder__close(struct symbol_ladder *l);
/* Down the ladder; the disassembly only if callers is non-empty (see
 * disasm__recover() for callers and calls). sym->source tells the rung.
 */
int symbol_ladder__find(struct symbol_ladder *l, const char *name, const char *const *callers,
			const char *const *calls, struct elf_symbol *sym);
/* Decompresses a whole .xz stream of at most max bytes into a malloc()ed
 * buffer. -EFBIG past max, -EBADMSG for anything not a complete .xz.
 */
int symbol_ladder__unxz(const void *in, size_t len, size_t max, void **out, size_t *out_len);

#endif
