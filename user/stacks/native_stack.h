/* SPDX-License-Identifier: MIT */
/* Native (C) stacks of the threads of another process, unwound with CFI
 * (.eh_frame/.debug_frame) by libdw and symbolized from .symtab/.dynsym,
 * separate debuginfo or .gnu_debugdata.
 */
#ifndef GW_NATIVE_STACK_H
#define GW_NATIVE_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gilwatch.h"

#define NATIVE_STACK_DEPTH 48

struct native_frame {
	uint64_t ip;	 /* raw pc; return addresses are looked up at ip - 1 */
	uint64_t offset; /* ip - symbol start, when the symbol is known */
	char symbol[96]; /* "" if unknown */
	char module[64]; /* basename of the ELF file, "" if unknown */
};

struct native_stack {
	unsigned n;
	int truncated; /* depth limit hit, or stopped on an error before the outermost frame */
	struct native_frame f[NATIVE_STACK_DEPTH];
};

/* One per watched process: a Dwfl with its modules, loaded on first use.
 * Not thread-safe, and ptrace ties a stopped thread to the thread that
 * stopped it: use an unwinder from one thread only.
 */
struct native_unwinder;

/* Reports every module mapped in pid now; they are loaded (ELF, CFI,
 * symbols: the slow part, megabytes) by the first unwind, before any thread
 * is stopped. The target's root stays open, so that a crash's stacks can be
 * unwound after the process is gone. -ESRCH if pid is gone.
 */
int native_unwinder__new(pid_t pid, struct native_unwinder **out);
/* Re-reads the process's mappings (new libraries dlopen'ed since) if its
 * executable mappings changed; modules still mapped at the same place keep
 * what was loaded. Cheap enough to call twice a second. -ESRCH, modules
 * kept, if the process is gone or exiting.
 */
int native_unwinder__refresh(struct native_unwinder *u);
/* Frees the loaded modules if no unwind used them for idle_ns. */
void native_unwinder__trim(struct native_unwinder *u, uint64_t idle_ns);
void native_unwinder__free(struct native_unwinder *u);

/* Return addresses uretprobes hid on the stacks of the next unwinds
 * (ret_fixups.h); f must stay valid until the next call. n = 0: none.
 */
void native_unwinder__set_ret_fixups(struct native_unwinder *u, const struct gw_ret_fixup *f,
				     unsigned n);
/* A live thread, stopped only for the moment of the unwind: PTRACE_SEIZE +
 * PTRACE_INTERRUPT (never SIGSTOP, which would stop the target if we died
 * half-way), registers, unwind, PTRACE_DETACH; an interrupted system call
 * is restarted by the kernel. -ETIMEDOUT if the thread does not stop within
 * ~100 ms (uninterruptible sleep): it stays seized and is detached by a later
 * call once it stops. -ESRCH if tid is not a thread of the process, -EPERM
 * if another tracer (gdb, strace, py-spy) holds it.
 */
int native_unwinder__thread(struct native_unwinder *u, pid_t tid, struct native_stack *out);
/* Copies the top of tid's stack from sp for the next unwind of it (the
 * rest is read live): a moment's copy, to check the thread stayed put
 * around, rather than a whole unwind's reads.
 */
int native_unwinder__copy_stack(struct native_unwinder *u, pid_t tid, uint64_t sp);
/* A thread blocked in a system call, never stopped: from the pc and stack
 * pointer it entered the call with (proc__syscall()), and the callee-saved
 * registers if saved is not NULL (then its ip and sp are those), its stack
 * read from the copy native_unwinder__copy_stack() made, if any, else live.
 * Without them the unwind ends (truncated) at a frame whose CFI needs a
 * register no inner frame saved (rbp, in frame-pointer code). The caller
 * checks that the thread stayed in the call meanwhile.
 */
int native_unwinder__blocked(struct native_unwinder *u, pid_t tid, uint64_t pc, uint64_t sp,
			     const struct gw_user_regs *saved, struct native_stack *out);
/* From registers and a copy of the stack taken elsewhere (a BPF program at
 * an event): reads outside [stack_addr, stack_addr + len) fall back to the
 * live process, which may be gone (the unwind then stops there, truncated).
 * Only ip, sp, bp, bx and r12-r15 are known.
 */
int native_unwinder__snapshot(struct native_unwinder *u, pid_t tid, const struct gw_user_regs *regs,
			      const void *stack, size_t len, uint64_t stack_addr,
			      struct native_stack *out);

#endif
