/* SPDX-License-Identifier: MIT */
/* Finding the CPython processes of the machine: a cheap look at every
 * process (its executable's name, its mappings' names) before the full
 * target__open() confirms one.
 */
#ifndef GW_DISCOVER_H
#define GW_DISCOVER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --match/--exclude: POSIX extended regular expressions over a process's
 * command line (arguments joined by spaces).
 */
struct process_filter {
	regex_t match, exclude;
	bool has_match, has_exclude;
};

/* Whether pid maps a python executable or a libpython (not ours). */
bool discover__maybe_python(pid_t pid);
/* Calls fn for each process of the machine but this one; stops early when
 * fn returns non-zero.
 */
int discover__each_process(int (*fn)(pid_t pid, void *ctx), void *ctx);

/* -EINVAL if pattern is not a valid regular expression. */
int process_filter__set(struct process_filter *f, bool exclude, const char *pattern);
/* Whether the filter selects pid (no filter: every process). */
bool process_filter__accepts(const struct process_filter *f, pid_t pid);
void process_filter__free(struct process_filter *f);

#endif
