/* SPDX-License-Identifier: MIT */
/* The C functions behind the threading lock types (_thread.lock,
 * _thread.RLock), in a stripped build too. Their methods are static
 * functions, but every call goes through the type's method table
 * ({ml_name, ml_meth, ml_flags, ml_doc}, ending in a NULL name), which is
 * data, and a type made from a PyType_Spec points to that table from its
 * slots ({int slot; void *pfunc}, ending in {0, NULL}), where its tp_new
 * is too. An uncontended PyMutex acquisition is inlined into acquire():
 * the method is where it can be seen (docs/probes.md).
 */
#ifndef GW_LOCK_TYPE_H
#define GW_LOCK_TYPE_H

#include "elf_file.h"

#define LOCK_TYPE_TP_DEALLOC 52 /* Py_tp_dealloc (typeslots.h, stable ABI) */
#define LOCK_TYPE_TP_NEW 65

/* The function of method in the method table that has an entry named
 * anchor (a name only that table has: "locked_lock" for _thread.lock,
 * "_release_save" for _thread.RLock); with slot, the function of that slot
 * of the type whose slots point to the table instead. sym gets its CFI
 * bounds; -ENOENT if not found.
 */
int lock_type__function(struct elf_file *ef, const char *anchor, const char *method, int slot,
			struct elf_symbol *sym);

#endif
