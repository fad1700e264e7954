// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "elf_data.h"
#include "lock_type.h"

#define CANDIDATES 8
#define METHOD_DEF 32	     /* sizeof(PyMethodDef) */
#define METH_FLAGS_MAX 0x1ff /* METH_* bits: a real entry's ml_flags */
#define TYPE_SLOT 16	     /* sizeof(PyType_Slot) */
#define TP_METHODS 64	     /* Py_tp_methods */
#define SLOT_MAX 100	     /* slot ids are small (82 in 3.14) */
#define TABLE_MAX 64	     /* entries a lock type's table may have */
#define NAME_MAX_LEN 32

/* The name of the method table entry at entry, if it looks like one. */
static bool entry_name(struct elf_file *ef, uint64_t entry, char *name)
{
	uint64_t str, meth, flags;
	size_t len;

	if (elf_data__pointer_at(ef, entry, &str) || !str ||
	    elf_data__pointer_at(ef, entry + 8, &meth) || !meth ||
	    elf_file__read(ef, entry + 16, &flags, sizeof(flags)) || flags > METH_FLAGS_MAX)
		return false;
	/* A name at the end of its section cannot be read whole. */
	for (len = NAME_MAX_LEN; len; len /= 2) {
		if (!elf_file__read(ef, str, name, len))
			break;
	}
	if (!len || !memchr(name, 0, len))
		return false;
	return true;
}

/* The first entries of the method tables with an entry named anchor, at
 * most max; the number found.
 */
static size_t tables_of(struct elf_file *ef, const char *anchor, uint64_t *tables, size_t max)
{
	uint64_t strings[CANDIDATES], entries[CANDIDATES], table;
	char name[NAME_MAX_LEN];
	size_t ns, ne, i, j, n, found = 0;

	ns = elf_data__strings(ef, anchor, strings, CANDIDATES);
	for (i = 0; i < ns; i++) {
		ne = elf_data__pointers_to(ef, strings[i], entries, CANDIDATES);
		for (j = 0; j < ne && found < max; j++) {
			if (!entry_name(ef, entries[j], name) || strcmp(name, anchor))
				continue;
			table = entries[j];
			for (n = 0; n < TABLE_MAX && entry_name(ef, table - METHOD_DEF, name); n++)
				table -= METHOD_DEF;
			tables[found++] = table;
		}
	}
	return found;
}

static int method_of(struct elf_file *ef, uint64_t table, const char *method, uint64_t *fn)
{
	char name[NAME_MAX_LEN];
	size_t n;

	for (n = 0; n < TABLE_MAX && entry_name(ef, table, name); n++, table += METHOD_DEF) {
		if (!strcmp(name, method))
			return elf_data__pointer_at(ef, table + 8, fn);
	}
	return -ENOENT;
}

static bool slot_at(struct elf_file *ef, uint64_t at, int32_t *id, uint64_t *fn)
{
	return !elf_file__read(ef, at, id, sizeof(*id)) && *id > 0 && *id <= SLOT_MAX &&
	       !elf_data__pointer_at(ef, at + 8, fn) && *fn;
}

/* The function of slot in the slots that point to table (Py_tp_methods). */
static int slot_of(struct elf_file *ef, uint64_t table, int slot, uint64_t *fn)
{
	uint64_t refs[CANDIDATES], at;
	int32_t id;
	size_t n, i, k;

	n = elf_data__pointers_to(ef, table, refs, CANDIDATES);
	for (i = 0; i < n; i++) {
		at = refs[i] - 8;
		if (!slot_at(ef, at, &id, fn) || id != TP_METHODS)
			continue;
		for (k = 0; k < TABLE_MAX && slot_at(ef, at - TYPE_SLOT, &id, fn); k++)
			at -= TYPE_SLOT;
		for (k = 0; k < TABLE_MAX && slot_at(ef, at, &id, fn); k++, at += TYPE_SLOT) {
			if (id == slot)
				return 0;
		}
	}
	return -ENOENT;
}

int lock_type__function(struct elf_file *ef, const char *anchor, const char *method, int slot,
			struct elf_symbol *sym)
{
	uint64_t tables[CANDIDATES], fn;
	size_t n, i;

	n = tables_of(ef, anchor, tables, CANDIDATES);
	for (i = 0; i < n; i++) {
		if (!(slot ? slot_of(ef, tables[i], slot, &fn)
			   : method_of(ef, tables[i], method, &fn)))
			return elf_file__function_at(ef, fn, ELF_SYM_METHOD_TABLE, sym);
	}
	return -ENOENT;
}
