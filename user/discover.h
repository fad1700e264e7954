/* SPDX-License-Identifier: MIT */
/* Finding the CPython processes of the machine: a cheap look at every
 * process (its executable's name, its mappings' names) before the full
 * target__open() confirms one.
 */
#ifndef GW_DISCOVER_H
#define GW_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether pid maps a python executable or a libpython (not ours). */
bool discover__maybe_python(pid_t pid);
/* Calls fn for each process of the machine but this one; stops early when
 * fn returns non-zero.
 */
int discover__each_process(int (*fn)(pid_t pid, void *ctx), void *ctx);

#endif
