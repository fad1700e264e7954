/* SPDX-License-Identifier: MIT */
/* Strings and pointers in an ELF's data, as the loader will see them: a
 * pointer of a position-independent image is a relative relocation's
 * addend, of a fixed executable the word itself. What finds functions that
 * a stripped build names nowhere but in its tables (method_table.h).
 */
#ifndef GW_ELF_DATA_H
#define GW_ELF_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "elf_file.h"

/* Addresses where s and its terminating NUL lie in loaded, non-code
 * sections (a tail of a longer string too: linkers merge them), at most
 * max; the number found.
 */
size_t elf_data__strings(struct elf_file *ef, const char *s, uint64_t *out, size_t max);
/* Addresses of loaded data words that hold the pointer value, at most max;
 * the number found.
 */
size_t elf_data__pointers_to(struct elf_file *ef, uint64_t value, uint64_t *out, size_t max);
/* The pointer the word at slot holds once loaded. */
int elf_data__pointer_at(struct elf_file *ef, uint64_t slot, uint64_t *value);

#endif
