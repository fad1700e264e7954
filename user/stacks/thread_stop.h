/* SPDX-License-Identifier: MIT */
/* A thread of another process stopped for a moment with ptrace, to read its
 * registers: PTRACE_SEIZE + PTRACE_INTERRUPT (never SIGSTOP, which would
 * stop the target if we died half-way), PTRACE_DETACH after; an
 * interrupted system call is restarted by the kernel. A thread whose stop
 * does not come in time (uninterruptible sleep) stays seized and is
 * detached by a later call once it stops. Not thread-safe: ptrace ties a
 * stopped thread to the thread that stopped it.
 */
#ifndef GW_THREAD_STOP_H
#define GW_THREAD_STOP_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>

struct thread_stop {
	/* Threads seized whose stop did not come in time. */
	pid_t *pending;
	size_t n_pending, cap_pending;
};

/* Stops tid of process pid and reads its registers; on 0 the caller must
 * thread_stop__release() it with *sig. -ESRCH if tid is not a thread of
 * pid, -ETIMEDOUT if it did not stop within ~100 ms, -EPERM if another
 * tracer (gdb, strace, py-spy) holds it.
 */
int thread_stop__stop(struct thread_stop *s, pid_t pid, pid_t tid, struct user_regs_struct *regs,
		      int *sig);
/* Lets it run on, passing on the signal it was about to get. */
void thread_stop__release(pid_t pid, pid_t tid, int sig);
/* Detaches the pending threads whose stop has come (or that are gone). */
void thread_stop__reap(struct thread_stop *s);
void thread_stop__free(struct thread_stop *s);

#endif
