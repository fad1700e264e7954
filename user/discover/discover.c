// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover.h"
#include "proc.h"

static int python_mapping(const struct proc_mapping *m, void *ctx)
{
	const char *base = strrchr(m->path, '/');

	base = base ? base + 1 : m->path;
	/* python3.11, python3, libpython3.12.so.1.0, uwsgi's embedded libpython */
	return !strncmp(base, "python", 6) || !strncmp(base, "libpython", 9);
}

bool discover__maybe_python(pid_t pid)
{
	return pid != getpid() && proc__for_each_mapping(pid, python_mapping, NULL) > 0;
}

int discover__each_process(int (*fn)(pid_t pid, void *ctx), void *ctx)
{
	struct dirent *de;
	DIR *dir = opendir("/proc");
	int ret = 0;

	if (!dir)
		return -1;
	while (!ret && (de = readdir(dir))) {
		pid_t pid;

		if (proc__parse_pid(de->d_name, &pid) || pid == getpid())
			continue;
		ret = fn(pid, ctx);
	}
	closedir(dir);
	return ret;
}

int process_filter__set(struct process_filter *f, bool exclude, const char *pattern)
{
	regex_t *re = exclude ? &f->exclude : &f->match;
	bool *has = exclude ? &f->has_exclude : &f->has_match;

	if (*has)
		regfree(re);
	*has = !regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
	return *has ? 0 : -EINVAL;
}

bool process_filter__accepts(const struct process_filter *f, pid_t pid)
{
	char cmdline[4096];

	if (!f->has_match && !f->has_exclude)
		return true;
	if (proc__cmdline(pid, cmdline, sizeof(cmdline)))
		return false;
	return (!f->has_match || !regexec(&f->match, cmdline, 0, NULL, 0)) &&
	       (!f->has_exclude || regexec(&f->exclude, cmdline, 0, NULL, 0));
}

void process_filter__free(struct process_filter *f)
{
	if (f->has_match)
		regfree(&f->match);
	if (f->has_exclude)
		regfree(&f->exclude);
	f->has_match = f->has_exclude = false;
}
