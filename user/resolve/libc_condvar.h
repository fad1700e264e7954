/* SPDX-License-Identifier: MIT */
/* Where glibc's pthread_cond_timedwait() sleeps: the call to its
 * cancellable futex wait, bracketed by _pthread_cleanup_push() and
 * _pthread_cleanup_pop() (glibc 2.34+ nptl/pthread_cond_wait.c). The
 * condvar's mutex is released there: a probe at that call and one just
 * after it time a GIL wait without lengthening take_gil()'s critical
 * section, which probes at the function's entry and return did.
 */
#ifndef GW_LIBC_CONDVAR_H
#define GW_LIBC_CONDVAR_H

#include <stdint.h>
#include "elf_file.h"

struct condvar_sleep {
	uint64_t call_offset;  /* file offset of the call: its first argument is the futex */
	uint64_t after_offset; /* of the instruction the call returns to */
};

/* -ENOENT without the symbols, -EPROTO if libc's pthread_cond_timedwait()
 * does not look like that.
 */
int libc_condvar__find_sleep(struct elf_file *libc, struct condvar_sleep *out);

#endif
