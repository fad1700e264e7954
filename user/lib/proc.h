/* SPDX-License-Identifier: MIT */
/* What /proc and process_vm_readv tell about a process. */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_mapping {
	uint64_t start, end, pgoff;
	char perms[5];
	char path[PATH_MAX];
};

/* Calls fn for each file-backed mapping; stops when fn returns non-zero and
 * returns that value. -errno if the maps cannot be read.
 */
int proc__for_each_mapping(pid_t pid, int (*fn)(const struct proc_mapping *m, void *ctx),
			   void *ctx);
/* The whole of /proc/PID/maps, NUL-terminated, in *text (free() it). */
int proc__maps(pid_t pid, char **text);
/* proc__for_each_mapping over a copy read by proc__maps. */
int proc__for_each_mapping_in(const char *text, int (*fn)(const struct proc_mapping *m, void *ctx),
			      void *ctx);
/* Parses one line of /proc/PID/maps; -EINVAL if it is not a file mapping. */
int proc__parse_mapping(const char *line, struct proc_mapping *m);
/* Calls fn for each thread of pid; stops when fn returns non-zero and
 * returns that value. -errno if the process is gone.
 */
int proc__for_each_task(pid_t pid, int (*fn)(pid_t tid, void *ctx), void *ctx);
/* The process a task id belongs to (Tgid), or a negative errno. */
pid_t proc__tgid(pid_t pid);
/* Thread name (comm); tid == pid gives the process's. */
int proc__comm(pid_t pid, pid_t tid, char *buf, size_t len);
/* The command line, arguments joined by spaces (truncated to len - 1). */
int proc__cmdline(pid_t pid, char *buf, size_t len);
/* Path of a target's file as seen from here, through its root. path is as
 * /proc/PID/maps shows it to us: relative to the target's mount namespace,
 * so a chrooted target's files carry its root directory as a prefix.
 */
void proc__root_path(pid_t pid, const char *path, char *out, size_t len);
/* A target's root directory, held open: its files stay reachable after the
 * process is gone (a crash's stacks are decoded then).
 */
struct proc_root {
	int fd;
	size_t prefix_len;
	char prefix[PATH_MAX]; /* how /proc/PID/maps spells the root, "" for "/" */
};

int proc_root__open(struct proc_root *r, pid_t pid);
/* proc__root_path through the held directory. */
void proc_root__path(const struct proc_root *r, const char *path, char *out, size_t len);
void proc_root__close(struct proc_root *r);
/* The fields of /proc/PID/task/TID/stat after "tid (comm) " (state first);
 * tid 0: /proc/PID/stat, the whole process (its threads' CPU time summed,
 * the main thread's state). tid == pid is the main thread alone.
 */
int proc__stat(pid_t pid, pid_t tid, char *out, size_t len);
/* State letter and CPU time (utime + stime, clock ticks) from the stat
 * file, tid as for proc__stat. -ESRCH if it cannot be read.
 */
int proc__cpu(pid_t pid, pid_t tid, char *state, uint64_t *ticks);
/* True for a zombie or dead process: its maps are already gone. */
bool proc__exited(pid_t pid);

/* The system call a thread is blocked in, as /proc/PID/task/TID/syscall
 * shows it (read without stopping the thread): its number, arguments and
 * the user stack pointer and pc it entered with.
 */
struct proc_syscall {
	long nr;
	uint64_t args[6];
	uint64_t sp, pc;
};

/* The children of every thread of pid (/proc/PID/task/TID/children), at
 * most max. Returns how many, or -errno.
 */
int proc__children(pid_t pid, pid_t *out, size_t max);
/* When the thread started, in clock ticks after boot (stat field 22). */
int proc__start_ticks(pid_t pid, pid_t tid, uint64_t *ticks);

/* -EBUSY if the thread is running (or in no system call), -errno else. */
int proc__syscall(pid_t pid, pid_t tid, struct proc_syscall *out);
/* Seconds since the process started; negative errno on failure. */
double proc__age_s(pid_t pid);
int proc__read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Parses a PID argument; -EINVAL unless it is a positive decimal number. */
int proc__parse_pid(const char *arg, pid_t *pid);

#endif
