// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gilwatch.skel.h"
#include "proc.h"
#include "snapshot.h"

void snapshot__init(struct proc_snapshot *s, pid_t pid)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
}

struct thread_row *snapshot__thread(struct proc_snapshot *s, uint32_t tid)
{
	size_t i;

	for (i = 0; i < s->nrows; i++) {
		if (s->rows[i].tid == tid)
			return &s->rows[i];
	}
	if (s->nrows < GW_MAX_THREAD_ROWS) {
		i = s->nrows++;
	} else {
		for (i = 0; i < s->nrows && !s->rows[i].stats.ended; i++)
			;
		if (i == s->nrows) {
			s->dropped_thread_updates++;
			return NULL;
		}
	}
	memset(&s->rows[i], 0, sizeof(s->rows[0]));
	s->rows[i].tid = tid;
	/* Named now: a short-lived thread is gone by the next refresh. */
	proc__comm(s->pid, tid, s->rows[i].name, sizeof(s->rows[0].name));
	return &s->rows[i];
}

/* Threads that never waited show up too: list the live ones. */
static void add_live_threads(struct proc_snapshot *s)
{
	struct dirent *de;
	char path[64];
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", s->pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		uint32_t tid = strtoul(de->d_name, NULL, 10);

		if (!tid)
			continue;
		snapshot__thread(s, tid);
	}
	closedir(dir);
}

int snapshot__refresh(struct proc_snapshot *s, struct gilwatch_bpf *skel)
{
	int stats_fd = bpf_map__fd(skel->maps.thread_stats);
	__u32 pid = s->pid, key, next, ended[256];
	size_t nended = 0, i;
	void *prev = NULL;
	int err;

	err = bpf_map__lookup_elem(skel->maps.proc_stats, &pid, sizeof(pid), &s->stats,
				   sizeof(s->stats), 0);
	if (err)
		return err;
	s->events_dropped = skel->bss->dropped_events;
	add_live_threads(s);
	while (!bpf_map_get_next_key(stats_fd, prev, &next)) {
		struct gw_thread_stats ts;
		struct thread_row *row;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(stats_fd, &key, &ts) || ts.pid != pid)
			continue;
		row = snapshot__thread(s, key);
		if (!row)
			continue;
		row->stats = ts;
		if (ts.ended && nended < sizeof(ended) / sizeof(ended[0]))
			ended[nended++] = key;
	}
	/* Deleting while iterating would restart the walk: do it after. */
	for (i = 0; i < nended; i++)
		bpf_map_delete_elem(stats_fd, &ended[i]);
	return 0;
}

void snapshot__sample_gil(struct proc_snapshot *s, const struct gw_target *t)
{
	struct thread_row *row;
	pid_t holder;

	if (target__gil_holder(t, &holder))
		return;
	s->gil_samples++;
	if (!holder)
		return;
	s->gil_held_samples++;
	row = snapshot__thread(s, holder);
	if (row)
		row->holder_samples++;
}

double snapshot__gil_share(const struct proc_snapshot *s, const struct thread_row *r)
{
	return s->gil_samples ? (double)r->holder_samples / s->gil_samples : 0.0;
}
