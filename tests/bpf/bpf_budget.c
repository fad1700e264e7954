// SPDX-License-Identifier: MIT
/* Loads every BPF program gilwatch has (--deep's and the optional ones
 * too) on the running kernel and checks each against the budgets below,
 * with the figures the verifier itself reports (log level BPF_LOG_STATS):
 * the stack depth of each subprogram, combined along the deepest call
 * chain as the kernel does (bpf_loop() callbacks included, each frame
 * rounded up to 32 bytes), and the instructions it processed. Exits 1
 * naming every program over budget, or the one the kernel rejected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "gilwatch.skel.h"
#include "retfix.skel.h"

/* Three quarters of the kernel's 512 bytes: room for another kernel's or
 * compiler's stack layout.
 */
#define STACK_BUDGET 384
/* A fifth of the kernel's 1,000,000: room for verifiers that explore more. */
#define INSNS_BUDGET 200000
#define MAX_SUBPROGS 64
#define LOG_SIZE (1u << 20)
#define BPF_LOG_STATS 4

struct figures {
	unsigned depth[MAX_SUBPROGS], nsub;
	char frames[128]; /* the verifier's own words, e.g. "48+16+0" */
	unsigned long processed;
};

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

/* "stack depth 48+16+0" and "processed 1234 insns" from the verifier. */
static int parse_log(const char *log, struct figures *f)
{
	const char *p = strstr(log, "stack depth "), *q = strstr(log, "processed ");
	char *end;

	if (!p || !q)
		return -EINVAL;
	p += strlen("stack depth ");
	snprintf(f->frames, sizeof(f->frames), "%.*s", (int)strcspn(p, "\n"), p);
	for (f->nsub = 0; f->nsub < MAX_SUBPROGS; p = end + 1) {
		f->depth[f->nsub++] = strtoul(p, &end, 10);
		if (*end != '+')
			break;
	}
	f->processed = strtoul(q + strlen("processed "), NULL, 10);
	return 0;
}

static int subprog_of(const int *starts, int n, int insn)
{
	int i;

	for (i = n - 1; i > 0 && starts[i] > insn; i--)
		;
	return i;
}

static unsigned frame(unsigned depth)
{
	return ((depth ? depth : 1) + 31) / 32 * 32;
}

/* The deepest chain from subprogram s, as the kernel's check_max_stack_depth(). */
static unsigned chain(const struct bpf_insn *insns, int cnt, const int *starts, int n,
		      const struct figures *f, int s, int level)
{
	int end = s + 1 < n ? starts[s + 1] : cnt, i, callee;
	unsigned deepest = 0, d;

	for (i = starts[s]; i < end && level < 8; i++) {
		bool call =
		    insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src_reg == BPF_PSEUDO_CALL;
		bool func = insns[i].code == (BPF_LD | BPF_IMM | BPF_DW) &&
			    insns[i].src_reg == BPF_PSEUDO_FUNC;

		if (!call && !func)
			continue;
		callee = subprog_of(starts, n, i + insns[i].imm + 1);
		d = chain(insns, cnt, starts, n, f, callee, level + 1);
		if (d > deepest)
			deepest = d;
	}
	return frame(f->depth[s]) + deepest;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Subprogram starts: the program's, then every call and callback target. */
static int subprogs(const struct bpf_insn *insns, int cnt, int *starts)
{
	int n = 1, i, j, t;

	starts[0] = 0;
	for (i = 0; i < cnt; i++) {
		if (!((insns[i].code == (BPF_JMP | BPF_CALL) &&
		       insns[i].src_reg == BPF_PSEUDO_CALL) ||
		      (insns[i].code == (BPF_LD | BPF_IMM | BPF_DW) &&
		       insns[i].src_reg == BPF_PSEUDO_FUNC)))
			continue;
		t = i + insns[i].imm + 1;
		for (j = 0; j < n && starts[j] != t; j++)
			;
		if (j == n && n < MAX_SUBPROGS)
			starts[n++] = t;
	}
	qsort(starts, n, sizeof(*starts), cmp_int);
	return n;
}

static int check_object(struct bpf_object *obj, char *logs, const char *kernel)
{
	struct bpf_program *prog;
	int starts[MAX_SUBPROGS], n, over = 0, i = 0;
	struct figures f;
	unsigned combined;

	bpf_object__for_each_program(prog, obj)
	{
		const char *name = bpf_program__name(prog);
		const struct bpf_insn *insns = bpf_program__insns(prog);
		int cnt = bpf_program__insn_cnt(prog);

		if (parse_log(logs + (size_t)LOG_SIZE * i++, &f)) {
			printf("%s: no verifier statistics\n", name);
			return 1;
		}
		n = subprogs(insns, cnt, starts);
		if ((unsigned)n != f.nsub) {
			printf("%s: %d subprograms in the code, %u in the verifier's figures\n",
			       name, n, f.nsub);
			return 1;
		}
		combined = chain(insns, cnt, starts, n, &f, 0, 0);
		over += combined > STACK_BUDGET || f.processed > INSNS_BUDGET;
		printf("kernel %s: %-22s stack %3u of %u bytes (frames %s), %6lu insns "
		       "processed of %u%s\n",
		       kernel, name, combined, STACK_BUDGET, f.frames, f.processed, INSNS_BUDGET,
		       combined > STACK_BUDGET || f.processed > INSNS_BUDGET ? "  OVER BUDGET"
									     : "");
	}
	return over ? 1 : 0;
}

/* Every program with its own stats log; 1 if the kernel rejects one. */
static int load(struct bpf_object *obj, char **logs, const char *kernel)
{
	struct bpf_program *prog;
	size_t n = 0, i = 0;

	bpf_object__for_each_program(prog, obj) n++;
	*logs = calloc(n, LOG_SIZE);
	if (!*logs)
		return 1;
	bpf_object__for_each_program(prog, obj)
	{
		bpf_program__set_autoload(prog, true);
		bpf_program__set_log_level(prog, BPF_LOG_STATS);
		bpf_program__set_log_buf(prog, *logs + LOG_SIZE * i++, LOG_SIZE);
	}
	if (!bpf_object__load(obj))
		return 0;
	printf("kernel %s: the BPF object did not load: %s\n", kernel, strerror(errno));
	return 1;
}

int main(void)
{
	struct gilwatch_bpf *gw = gilwatch_bpf__open();
	struct retfix_bpf *rf = retfix_bpf__open();
	char *gw_logs = NULL, *rf_logs = NULL;
	struct utsname u;
	int err = 1;

	libbpf_set_print(print_warnings);
	uname(&u);
	if (!gw || !rf || bpf_loader__prepare(gw, true, true)) {
		printf("cannot open the BPF objects: %s\n", strerror(errno));
		goto out;
	}
	if (load(gw->obj, &gw_logs, u.release) || load(rf->obj, &rf_logs, u.release))
		goto out;
	err = check_object(gw->obj, gw_logs, u.release);
	err |= check_object(rf->obj, rf_logs, u.release);
	if (err)
		printf("kernel %s: BPF budget exceeded (stack <= %u bytes, <= %u insns)\n",
		       u.release, STACK_BUDGET, INSNS_BUDGET);
out:
	gilwatch_bpf__destroy(gw);
	retfix_bpf__destroy(rf);
	free(gw_logs);
	free(rf_logs);
	return err;
}
