// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "thread_stop.h"

#define STOP_TIMEOUT_NS (100 * 1000 * 1000ull)

/* Whether tid is a thread of the process. */
static bool has_thread(pid_t pid, pid_t tid)
{
	char path[64];

	if (tid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) == 0;
}

static bool pending_remove(struct thread_stop *s, pid_t tid)
{
	size_t i;

	for (i = 0; i < s->n_pending; i++) {
		if (s->pending[i] == tid) {
			s->pending[i] = s->pending[--s->n_pending];
			return true;
		}
	}
	return false;
}

static int pending_add(struct thread_stop *s, pid_t tid)
{
	pid_t *p;

	if (s->n_pending == s->cap_pending) {
		p = realloc(s->pending, (s->cap_pending * 2 + 4) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->cap_pending = s->cap_pending * 2 + 4;
	}
	s->pending[s->n_pending++] = tid;
	return 0;
}

/* One look for the stop of a seized thread: 1 stopped (*sig: a signal it
 * was about to get, to pass on at detach), 0 not yet, -ESRCH gone.
 */
static int poll_stop(pid_t tid, int *sig)
{
	int status;
	pid_t r;

	r = waitpid(tid, &status, __WALL | WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	if (r < 0 || !WIFSTOPPED(status))
		return -ESRCH;
	/* PTRACE_EVENT_STOP: our interrupt or a group-stop, which stays in
	 * effect after detach; otherwise a signal-delivery-stop.
	 */
	*sig = (status >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(status);
	return 1;
}

static int wait_stop(pid_t tid, int *sig)
{
	uint64_t deadline = monotonic_ns() + STOP_TIMEOUT_NS;
	struct timespec nap = {0, 20 * 1000};
	int ret;

	for (;;) {
		ret = poll_stop(tid, sig);
		if (ret)
			return ret < 0 ? ret : 0;
		if (monotonic_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 1000 * 1000)
			nap.tv_nsec *= 2;
	}
}

/* A tracee can only be detached while stopped, so this is all we can do. */
void thread_stop__reap(struct thread_stop *s)
{
	size_t i = 0;
	int sig = 0, ret;

	while (i < s->n_pending) {
		pid_t tid = s->pending[i];

		ret = poll_stop(tid, &sig);
		if (ret == 0) {
			i++;
			continue;
		}
		if (ret > 0)
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
		s->pending[i] = s->pending[--s->n_pending];
	}
}

int thread_stop__stop(struct thread_stop *s, pid_t pid, pid_t tid, struct user_regs_struct *regs,
		      int *sig)
{
	int ret;

	*sig = 0;
	if (!has_thread(pid, tid))
		return -ESRCH;
	/* Still seized from a call that timed out: its stop may come now. */
	if (!pending_remove(s, tid)) {
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
			return -errno;
		/* Fails only for a thread that is exiting: the wait below then
		 * collects its exit, which a tracer must (or it stays a zombie).
		 */
		ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
	}
	ret = wait_stop(tid, sig);
	if (ret == -ETIMEDOUT) {
		gw_debug("thread %d/%d did not stop within 100 ms", pid, tid);
		if (pending_add(s, tid))
			gw_debug("thread %d/%d stays seized until gilwatch exits", pid, tid);
		return ret;
	}
	if (ret)
		return ret;
	if (ptrace(PTRACE_GETREGS, tid, NULL, regs)) {
		ret = -errno;
		thread_stop__release(pid, tid, *sig);
	}
	return ret;
}

void thread_stop__release(pid_t pid, pid_t tid, int sig)
{
	if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig))
		gw_debug("detaching thread %d/%d: %s", pid, tid, strerror(errno));
}

void thread_stop__free(struct thread_stop *s)
{
	thread_stop__reap(s);
	free(s->pending);
	memset(s, 0, sizeof(*s));
}
