// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_features.h"
#include "bpf_load_diag.h"
#include "ret_fixups.h"
#include "retfix.skel.h"

/* Loaded on first use, kept for the life of the process. */
static struct retfix_bpf *skel;

static struct retfix_bpf *retfix(void)
{
	struct bpf_load_diag d;
	int err;

	if (skel || bpf_features__unavailable(GW_FEATURE_RET_FIXUPS))
		return skel;
	bpf_load_diag__install();
	skel = retfix_bpf__open();
	if (!skel) {
		bpf_features__disable(GW_FEATURE_RET_FIXUPS, strerror(errno));
		return NULL;
	}
	err = bpf_load_diag__begin(skel->obj);
	if (!err)
		err = retfix_bpf__load(skel) ? -errno : 0;
	if (err) {
		bpf_load_diag__explain(skel->obj, err, &d);
		bpf_features__disable(GW_FEATURE_RET_FIXUPS, d.message);
		retfix_bpf__destroy(skel);
		skel = NULL;
	}
	bpf_load_diag__end();
	return skel;
}

bool ret_fixups__available(void)
{
	return retfix() != NULL;
}

/* Runs iterator prog on thread tid alone: its records of size each, at
 * most max, into out. The number read.
 */
static unsigned read_task(struct bpf_program *prog, pid_t tid, void *out, size_t size, unsigned max)
{
	union bpf_iter_link_info info = {.task.tid = tid};
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
	struct bpf_link *link;
	unsigned n = 0;
	int fd;

	link = bpf_program__attach_iter(prog, &opts);
	if (!link)
		return 0;
	fd = bpf_iter_create(bpf_link__fd(link));
	while (fd >= 0 && n < max) {
		uint8_t *rec = (uint8_t *)out + n * size;

		if (read(fd, rec, size) != (ssize_t)size)
			break;
		/* Each record starts with its thread id. */
		if (*(__u32 *)rec == (__u32)tid)
			n++;
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return n;
}

int ret_fixups__read(pid_t tid, struct gw_ret_fixup *out, unsigned max)
{
	struct retfix_bpf *s = retfix();

	return s ? (int)read_task(s->progs.gw_ret_fixups, tid, out, sizeof(*out), max) : 0;
}

int ret_fixups__task_regs(pid_t tid, struct gw_user_regs *out)
{
	struct retfix_bpf *s = retfix();
	struct gw_task_regs r;

	if (!s || read_task(s->progs.gw_task_regs, tid, &r, sizeof(r), 1) != 1)
		return -ENOENT;
	*out = r.regs;
	return 0;
}
