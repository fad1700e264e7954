// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proc.h"

#define DELETED " (deleted)"

int proc__parse_mapping(const char *line, struct proc_mapping *m)
{
	int path_at = 0;
	size_t len;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*s %*u %n", &m->start, &m->end,
		   m->perms, &m->pgoff, &path_at) < 4 ||
	    !path_at || line[path_at] != '/')
		return -EINVAL;
	snprintf(m->path, sizeof(m->path), "%s", line + path_at);
	m->path[strcspn(m->path, "\n")] = '\0';
	/* Replaced or unlinked files cannot be probed by path. */
	len = strlen(m->path);
	if (len > sizeof(DELETED) - 1 && !strcmp(m->path + len - (sizeof(DELETED) - 1), DELETED))
		return -EINVAL;
	return 0;
}

int proc__maps(pid_t pid, char **text)
{
	char path[64], *buf = NULL;
	size_t cap = 0, len = 0;
	int ret = 0;
	ssize_t n;
	int fd;

	*text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			char *grown = realloc(buf, cap ? cap * 2 : 16384);

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			buf = grown;
			cap = cap ? cap * 2 : 16384;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*text = buf;
	return 0;
}

int proc__for_each_mapping_in(const char *text, int (*fn)(const struct proc_mapping *m, void *ctx),
			      void *ctx)
{
	const char *line = text;
	int ret = 0;

	while (line && *line && !ret) {
		struct proc_mapping m;

		if (!proc__parse_mapping(line, &m))
			ret = fn(&m, ctx);
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return ret;
}

int proc__for_each_mapping(pid_t pid, int (*fn)(const struct proc_mapping *m, void *ctx), void *ctx)
{
	char *text;
	int ret;

	ret = proc__maps(pid, &text);
	if (ret)
		return ret;
	ret = proc__for_each_mapping_in(text, fn, ctx);
	free(text);
	return ret;
}

int proc__for_each_task(pid_t pid, int (*fn)(pid_t tid, void *ctx), void *ctx)
{
	struct dirent *de;
	char path[64];
	int ret = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!ret && (de = readdir(dir))) {
		pid_t tid = strtol(de->d_name, NULL, 10);

		if (tid > 0)
			ret = fn(tid, ctx);
	}
	closedir(dir);
	return ret;
}

pid_t proc__tgid(pid_t pid)
{
	char path[64], line[256];
	pid_t tgid = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	}
	fclose(f);
	return tgid;
}

int proc__comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return 0;
}

int proc__cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	/* NUL-separated; a trailing NUL ends the last argument. */
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (i = 0; i < n; i++)
		buf[i] = buf[i] ? buf[i] : ' ';
	buf[n] = '\0';
	return 0;
}

/* How /proc/PID/maps spells the target's root ("" for "/"): the prefix of
 * a chrooted target's paths.
 */
static size_t root_prefix(pid_t pid, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/root", pid);
	n = readlink(link, buf, len - 1);
	n = n > 1 && (size_t)n < len - 1 ? n : 0;
	buf[n] = '\0';
	return n;
}

static const char *strip_prefix(const char *path, const char *prefix, size_t n)
{
	return n && !strncmp(path, prefix, n) && path[n] == '/' ? path + n : path;
}

void proc__root_path(pid_t pid, const char *path, char *out, size_t len)
{
	char root[PATH_MAX];
	size_t n = root_prefix(pid, root, sizeof(root));

	snprintf(out, len, "/proc/%d/root%s", pid, strip_prefix(path, root, n));
}

int proc_root__open(struct proc_root *r, pid_t pid)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/%d/root", pid);
	r->fd = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->prefix_len = root_prefix(pid, r->prefix, sizeof(r->prefix));
	return 0;
}

void proc_root__path(const struct proc_root *r, const char *path, char *out, size_t len)
{
	snprintf(out, len, "/proc/self/fd/%d%s", r->fd,
		 strip_prefix(path, r->prefix, r->prefix_len));
}

void proc_root__close(struct proc_root *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int proc__stat(pid_t pid, pid_t tid, char *out, size_t len)
{
	char path[96], buf[1024], *p;
	size_t n;
	FILE *f;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EINVAL;
	snprintf(out, len, "%s", p + 2);
	return 0;
}

int proc__cpu(pid_t pid, pid_t tid, char *state, uint64_t *ticks)
{
	unsigned long long ut, st;
	char buf[1024];

	if (proc__stat(pid, tid, buf, sizeof(buf)) ||
	    sscanf(buf, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state, &ut, &st) !=
		3)
		return -ESRCH;
	*ticks = ut + st;
	return 0;
}

bool proc__exited(pid_t pid)
{
	char stat[1024];

	if (proc__stat(pid, pid, stat, sizeof(stat)))
		return true;
	return stat[0] == 'Z' || stat[0] == 'X';
}

double proc__age_s(pid_t pid)
{
	unsigned long long start;
	char stat[1024];
	double uptime;
	size_t n;
	FILE *f;
	int err;

	err = proc__stat(pid, pid, stat, sizeof(stat));
	if (err)
		return err;
	if (sscanf(stat,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
		   "%*d %*d %*d %llu",
		   &start) != 1)
		return -EINVAL;
	f = fopen("/proc/uptime", "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%lf", &uptime);
	fclose(f);
	if (n != 1)
		return -EINVAL;
	return uptime - (double)start / sysconf(_SC_CLK_TCK);
}

int proc__read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int proc__parse_pid(const char *arg, pid_t *pid)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)arg[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int proc__syscall(pid_t pid, pid_t tid, struct proc_syscall *out)
{
	unsigned long long a[8];
	char path[96], buf[256];
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		err = -EIO;
	else if (sscanf(buf, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &out->nr, &a[0], &a[1],
			&a[2], &a[3], &a[4], &a[5], &a[6], &a[7]) != 9 ||
		 out->nr < 0)
		err = -EBUSY; /* "running", or "-1 sp pc": not in a system call */
	fclose(f);
	if (err)
		return err;
	memcpy(out->args, a, sizeof(out->args));
	out->sp = a[6];
	out->pc = a[7];
	return 0;
}

struct children_read {
	pid_t pid, *out;
	size_t n, max;
};

static int task_children(pid_t tid, void *ctx)
{
	struct children_read *c = ctx;
	char path[96];
	long child;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", c->pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (c->n < c->max && fscanf(f, "%ld", &child) == 1)
		c->out[c->n++] = (pid_t)child;
	fclose(f);
	return c->n == c->max;
}

int proc__children(pid_t pid, pid_t *out, size_t max)
{
	struct children_read c = {.pid = pid, .out = out, .max = max};
	int err;

	if (!max)
		return 0;
	err = proc__for_each_task(pid, task_children, &c);
	return err < 0 ? err : (int)c.n;
}

int proc__start_ticks(pid_t pid, pid_t tid, uint64_t *ticks)
{
	unsigned long long start;
	char stat[1024];

	/* Field 22; the copy starts at field 3 (state). */
	if (proc__stat(pid, tid, stat, sizeof(stat)) ||
	    sscanf(stat,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   &start) != 1)
		return -ESRCH;
	*ticks = start;
	return 0;
}
