// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "ret_fixups.h"
#include "retfix.skel.h"

/* Loaded on first use, kept for the life of the process. */
static struct retfix_bpf *skel;
static bool load_failed;

static struct retfix_bpf *retfix(void)
{
	if (skel || load_failed)
		return skel;
	skel = retfix_bpf__open_and_load();
	if (!skel) {
		load_failed = true;
		gw_debug("no uretprobe fixups: %s", strerror(errno));
	}
	return skel;
}

int ret_fixups__read(pid_t tid, struct gw_ret_fixup *out, unsigned max)
{
	union bpf_iter_link_info info = {.task.tid = tid};
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
	struct retfix_bpf *s = retfix();
	struct bpf_link *link;
	unsigned n = 0;
	ssize_t got;
	int fd;

	if (!s)
		return 0;
	link = bpf_program__attach_iter(s->progs.gw_ret_fixups, &opts);
	if (!link)
		return 0;
	fd = bpf_iter_create(bpf_link__fd(link));
	while (fd >= 0 && n < max) {
		got = read(fd, &out[n], sizeof(out[n]));
		if (got != sizeof(out[n]))
			break;
		if (out[n].tid == (__u32)tid)
			n++;
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return n;
}
