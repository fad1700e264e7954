/* SPDX-License-Identifier: MIT */
/* Symbol and data lookup in an ELF file on disk (libelf). */
#ifndef GW_ELF_FILE_H
#define GW_ELF_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libelf.h>

enum elf_sym_source {
	ELF_SYM_SYMTAB,	       /* .symtab: also local (static) functions */
	ELF_SYM_DYNSYM,	       /* .dynsym: exported */
	ELF_SYM_GNU_DEBUGDATA, /* .symtab of the embedded MiniDebugInfo */
	ELF_SYM_DEBUGINFO,     /* .symtab of a separate debug file (build-id) */
	ELF_SYM_DISASM,	       /* recovered from an exported caller's code */
	ELF_SYM_METHOD_TABLE,  /* a type's method table or slots (lock_type.h) */
};

struct elf_symbol {
	uint64_t vaddr;
	uint64_t size;
	uint64_t file_offset; /* what uprobes attach to */
	enum elf_sym_source source;
};

struct elf_file {
	int fd;
	Elf *elf;
	void *image; /* owned bytes of an in-memory ELF, else NULL */
};

/* How the symbol was found, as gilwatch_probe_attached{method} says it. */
const char *elf_symbol__method(const struct elf_symbol *sym);

int elf_file__open(struct elf_file *ef, const char *path);
/* An ELF image in memory (a decompressed .gnu_debugdata); takes ownership
 * of the malloc()ed image, also on failure.
 */
int elf_file__open_mem(struct elf_file *ef, void *image, size_t len);
void elf_file__close(struct elf_file *ef);
/* .symtab first, then .dynsym; non-default symbol versions are skipped. */
int elf_file__find_symbol(struct elf_file *ef, const char *name, struct elf_symbol *sym);
/* .symtab only, address and size only: for a debug image whose addresses
 * are those of another (stripped) file, which has the file offsets.
 */
int elf_file__find_symtab(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size);
/* The sorted start addresses of the functions .dynsym defines (malloc()ed). */
int elf_file__exported_functions(struct elf_file *ef, uint64_t **addrs, size_t *n);
/* The GOT slot a dynamic relocation fills with the address of name: what
 * its PLT stub or a -fno-plt call jumps through. -ENOENT if none.
 */
int elf_file__got_slot(struct elf_file *ef, const char *name, uint64_t *slot);
int elf_file__vaddr_to_offset(struct elf_file *ef, uint64_t vaddr, uint64_t *offset);
/* Copies initialized bytes at vaddr out of the file. */
int elf_file__read(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);
/* Lowest PT_LOAD address minus its file offset: with a mapping's start and
 * file offset it gives the load bias.
 */
int elf_file__load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_pgoff,
			uint64_t *bias);
bool elf_file__has_section(struct elf_file *ef, const char *name);
/* Bytes of a section in the file (not copied); -ENOENT if absent. */
int elf_file__section(struct elf_file *ef, const char *name, const char **data, size_t *len);
/* Hex build-id from the NT_GNU_BUILD_ID note, "" if none. */
int elf_file__build_id(struct elf_file *ef, char *hex, size_t len);
/* Whether a USDT note provider:name exists (.note.stapsdt). */
bool elf_file__has_usdt(struct elf_file *ef, const char *provider, const char *name);
/* The address of the first USDT probe provider:name; -ENOENT if none. */
int elf_file__usdt_pc(struct elf_file *ef, const char *provider, const char *name, uint64_t *pc);
/* Bounds [start, end) of the function containing vaddr, from its CFI
 * (.eh_frame survives stripping): names a static function a USDT probe or a
 * disassembly points into. -ENOENT if no FDE covers vaddr.
 */
int elf_file__function_range(struct elf_file *ef, uint64_t vaddr, uint64_t *start, uint64_t *end);
/* sym for the function that starts at vaddr, its bounds from its CFI, found
 * the way source says; -ENOENT if no function starts there.
 */
int elf_file__function_at(struct elf_file *ef, uint64_t vaddr, enum elf_sym_source source,
			  struct elf_symbol *sym);

#endif
