/* SPDX-License-Identifier: MIT */
/* A function behind a builtin module's method, in a stripped build too:
 * module method tables ({ml_name, ml_meth, ml_flags, ml_doc}) are data,
 * their names strings. 3.13+ no longer export _PyThread_CurrentExceptions,
 * but sys._current_exceptions calls it first, as sys._current_frames calls
 * the exported _PyThread_CurrentFrames: that pair checks the way.
 */
#ifndef GW_METHOD_TABLE_H
#define GW_METHOD_TABLE_H

#include "elf_file.h"

/* The function behind method that implements it: the first on the chain
 * of first calls from the method's C function (a clinic wrapper, its
 * _impl, or the implementation itself when link-time optimization inlined
 * it) that calls marker. The same walk from check_method must reach the
 * exported check_fn. sym gets its CFI bounds; -ENOENT if either fails.
 */
int method_table__callee(struct elf_file *ef, const char *method, const char *marker,
			 const char *check_method, const char *check_fn, struct elf_symbol *sym);

#endif
