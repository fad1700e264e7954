// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>

#include "bpf_load_diag.h"
#include "log.h"

/* A rejected program's log holds the path that failed, at log level 1. */
#define VERIFIER_LOG_SIZE (1u << 20)
#define ERRNO_ENOTSUPP 524 /* the kernel's own "not supported" */

static struct {
	bool loading;
	char *logs; /* VERIFIER_LOG_SIZE per program, in object order */
	size_t nlogs;
	char last_warning[256];
	char last_prog[64];
} diag;

/* The program a libbpf message names ("prog 'gw_gc_enter': ..."). */
static void note_prog(const char *line)
{
	const char *p = strstr(line, "prog '"), *end;

	if (!p)
		return;
	p += strlen("prog '");
	end = strchr(p, '\'');
	if (end && (size_t)(end - p) < sizeof(diag.last_prog))
		snprintf(diag.last_prog, sizeof(diag.last_prog), "%.*s", (int)(end - p), p);
}

/* "libbpf: prog 'x': failed to ..." -> "failed to ...": the diagnosis
 * names the program itself.
 */
static const char *after_prefixes(const char *line)
{
	const char *p;

	if (!strncmp(line, "libbpf: ", 8))
		line += 8;
	if (!strncmp(line, "prog '", 6) && (p = strstr(line, "': ")))
		line = p + 3;
	return line;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[sizeof(diag.last_warning)];
	va_list copy;

	if (level == LIBBPF_WARN && diag.loading) {
		va_copy(copy, args);
		vsnprintf(line, sizeof(line), fmt, copy);
		va_end(copy);
		line[strcspn(line, "\n")] = '\0';
		note_prog(line);
		/* The log itself is read from its buffer; its banner and the
		 * failures that follow the first are no reason.
		 */
		if (!strstr(line, "BEGIN PROG LOAD LOG") && !strstr(line, "failed to load") &&
		    !strstr(line, "failed to prepare load attributes"))
			snprintf(diag.last_warning, sizeof(diag.last_warning), "%s",
				 after_prefixes(line));
	}
	return gw_verbose ? vfprintf(stderr, fmt, args) : 0;
}

void bpf_load_diag__install(void)
{
	libbpf_set_print(libbpf_print);
}

const char *bpf_load_diag__kernel(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	return u.release;
}

int bpf_load_diag__check_btf(struct bpf_load_diag *d)
{
	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		return 0;
	d->kind = BPF_LOAD_NO_BTF;
	d->prog[0] = '\0';
	snprintf(d->message, sizeof(d->message),
		 "kernel %s has no BTF (/sys/kernel/btf/vmlinux: %s): gilwatch needs a kernel "
		 "built with CONFIG_DEBUG_INFO_BTF=y",
		 bpf_load_diag__kernel(), strerror(errno));
	return -ENOENT;
}

int bpf_load_diag__begin(struct bpf_object *obj)
{
	struct bpf_program *prog;
	size_t i = 0;

	bpf_object__for_each_program(prog, obj) i++;
	/* Mapped, not malloc'ed: pages never written are never backed (only a
	 * rejection costs), and freeing so large a block would raise glibc's
	 * mmap threshold for good, putting later big allocations on the heap
	 * (the agent's resident set grew by 8 MiB, bench/).
	 */
	diag.logs = mmap(NULL, i * VERIFIER_LOG_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (diag.logs == MAP_FAILED) {
		diag.logs = NULL;
		return -ENOMEM;
	}
	diag.nlogs = i;
	i = 0;
	bpf_object__for_each_program(prog, obj)
	    bpf_program__set_log_buf(prog, diag.logs + VERIFIER_LOG_SIZE * i++, VERIFIER_LOG_SIZE);
	diag.last_warning[0] = diag.last_prog[0] = '\0';
	diag.loading = true;
	return 0;
}

void bpf_load_diag__end(void)
{
	if (diag.logs)
		munmap(diag.logs, diag.nlogs * VERIFIER_LOG_SIZE);
	diag.logs = NULL;
	diag.nlogs = 0;
	diag.loading = false;
}

/* The verifier's reason: the last line of its log but for the statistics. */
static void verifier_reason(const char *log, char *out, size_t len)
{
	const char *end = log + strnlen(log, VERIFIER_LOG_SIZE), *start;

	out[0] = '\0';
	while (end > log) {
		while (end > log && end[-1] == '\n')
			end--;
		for (start = end; start > log && start[-1] != '\n'; start--)
			;
		if (end > start && strncmp(start, "processed ", 10) &&
		    strncmp(start, "verification time", 17) && strncmp(start, "stack depth", 11)) {
			snprintf(out, len, "%.*s", (int)(end - start), start);
			return;
		}
		end = start;
	}
}

/* The rejected program: the one whose log the kernel wrote. */
static struct bpf_program *rejected(struct bpf_object *obj, const char **log)
{
	struct bpf_program *prog;
	size_t i = 0;

	bpf_object__for_each_program(prog, obj)
	{
		if (i < diag.nlogs && diag.logs[VERIFIER_LOG_SIZE * i]) {
			*log = diag.logs + VERIFIER_LOG_SIZE * i;
			return prog;
		}
		i++;
	}
	return NULL;
}

void bpf_load_diag__explain(struct bpf_object *obj, int err, struct bpf_load_diag *d)
{
	const char *kernel = bpf_load_diag__kernel(), *log = NULL;
	struct bpf_program *prog = rejected(obj, &log);
	char reason[256];

	snprintf(d->prog, sizeof(d->prog), "%s", prog ? bpf_program__name(prog) : diag.last_prog);
	if (prog) {
		verifier_reason(log, reason, sizeof(reason));
		d->kind = BPF_LOAD_REJECTED;
		snprintf(
		    d->message, sizeof(d->message),
		    "kernel %s rejected BPF program %s: %s (gilwatch -v shows the verifier log)",
		    kernel, d->prog, reason[0] ? reason : strerror(-err));
	} else if (err == -EPERM || err == -EACCES) {
		d->kind = BPF_LOAD_PRIVILEGES;
		snprintf(d->message, sizeof(d->message),
			 "cannot load BPF programs: %s (needs root, or CAP_BPF, CAP_PERFMON and "
			 "CAP_SYS_ADMIN)",
			 strerror(-err));
	} else if (d->prog[0] && (err == -EINVAL || err == -ERRNO_ENOTSUPP || err == -EOPNOTSUPP ||
				  err == -ESRCH || err == -ENOENT)) {
		d->kind = BPF_LOAD_KERNEL_FEATURE;
		snprintf(d->message, sizeof(d->message),
			 "kernel %s lacks what BPF program %s needs: %s", kernel, d->prog,
			 diag.last_warning[0] ? diag.last_warning : strerror(-err));
	} else {
		d->kind = BPF_LOAD_OTHER;
		snprintf(d->message, sizeof(d->message),
			 "cannot load BPF programs on kernel %s: %s%s%s", kernel, strerror(-err),
			 diag.last_warning[0] ? ": " : "", diag.last_warning);
	}
}
