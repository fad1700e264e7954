// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "wait_sampler.h"
#include "gilwatch.skel.h"

int wait_sampler__open(struct wait_sampler *s, struct gilwatch_bpf *skel, pid_t pid)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info;

	memset(s, 0, sizeof(*s));
	memset(&info, 0, sizeof(info));
	/* Only this process's threads: not every task of the machine. */
	info.task.pid = pid;
	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	s->skel = skel;
	s->link = bpf_program__attach_iter(skel->progs.gw_sample_waits, &opts);
	return s->link ? 0 : -errno;
}

void wait_sampler__sample(struct wait_sampler *s, uint64_t weight_ns, pid_t holder)
{
	char buf[8];
	int fd;

	if (!s->link)
		return;
	/* The agent's loop is the only writer: one sample at a time. */
	s->skel->bss->sample_weight_ns = weight_ns;
	s->skel->bss->sample_gil_holder = holder;
	fd = bpf_iter_create(bpf_link__fd(s->link));
	if (fd < 0) {
		s->failures++;
		return;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	s->runs++;
}

void wait_sampler__close(struct wait_sampler *s)
{
	bpf_link__destroy(s->link);
	s->link = NULL;
}
