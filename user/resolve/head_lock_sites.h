/* SPDX-License-Identifier: MIT */
/* Where a thread holds HEAD_LOCK, told from its native stack alone: the
 * return addresses of the calls each function that takes it (per CPython
 * version, listed from its source) makes between its HEAD_LOCK call and a
 * HEAD_UNLOCK call, found by following its code (disasm.h). A frame that
 * resumes at one of them holds the lock; one that resumes right after the
 * HEAD_LOCK call is still waiting for it.
 */
#ifndef GW_HEAD_LOCK_SITES_H
#define GW_HEAD_LOCK_SITES_H

#include <stdint.h>

#define GW_MAX_HEAD_LOCK_SITES 384
#define GW_MAX_HEAD_LOCK_FUNCTIONS 24

struct head_lock_sites {
	uint64_t ret[GW_MAX_HEAD_LOCK_SITES]; /* runtime addresses */
	uint8_t function[GW_MAX_HEAD_LOCK_SITES];
	unsigned n;
	const char *functions[GW_MAX_HEAD_LOCK_FUNCTIONS]; /* those found */
	unsigned nfunctions, listed;
};

struct python_build;
struct elf_file;
struct symbol_ladder;

/* Fills s for build b, loaded at bias, if its HEAD_LOCK is a
 * PyThread_type_lock (3.10-3.12); functions the ladder cannot find (static
 * ones of a stripped build) are left out.
 */
void head_lock_sites__resolve(struct head_lock_sites *s, const struct python_build *b,
			      uint64_t bias, struct elf_file *ef, struct symbol_ladder *l);
/* The function holding HEAD_LOCK if a frame resumes at return address ip,
 * else NULL.
 */
const char *head_lock_sites__holder_at(const struct head_lock_sites *s, uint64_t ip);

#endif
