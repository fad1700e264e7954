// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "probe_plan.h"
#include "link_reaper.h"

static void *reap(void *arg)
{
	struct link_reaper *r = arg;
	struct bpf_link *link;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->n && !r->stopping)
			pthread_cond_wait(&r->more, &r->lock);
		if (!r->n)
			break;
		link = r->queue[--r->n];
		pthread_mutex_unlock(&r->lock);
		bpf_link__destroy(link);
		pthread_mutex_lock(&r->lock);
		r->destroyed++;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int link_reaper__start(struct link_reaper *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->more, NULL);
	err = pthread_create(&r->thread, NULL, reap, r);
	if (err) {
		pthread_cond_destroy(&r->more);
		pthread_mutex_destroy(&r->lock);
		return -err;
	}
	r->started = true;
	return 0;
}

static bool enqueue(struct link_reaper *r, struct probe_links *l)
{
	size_t want = r->n + l->n, cap = r->cap ? r->cap : 64;
	struct bpf_link **q;

	while (cap < want)
		cap *= 2;
	if (cap != r->cap) {
		q = realloc(r->queue, cap * sizeof(*q));
		if (!q)
			return false;
		r->queue = q;
		r->cap = cap;
	}
	memcpy(r->queue + r->n, l->links, l->n * sizeof(*l->links));
	r->n += l->n;
	return true;
}

void link_reaper__take(struct link_reaper *r, struct probe_links *l)
{
	bool queued = false;

	if (r && r->started && l->n) {
		pthread_mutex_lock(&r->lock);
		queued = !r->stopping && enqueue(r, l);
		pthread_cond_signal(&r->more);
		pthread_mutex_unlock(&r->lock);
	}
	if (queued)
		l->n = 0;
	else
		probe_links__release(l);
}

size_t link_reaper__pending(struct link_reaper *r)
{
	size_t n;

	if (!r->started)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void link_reaper__stop(struct link_reaper *r)
{
	if (!r->started)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->more);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->more);
	pthread_mutex_destroy(&r->lock);
	free(r->queue);
	memset(r, 0, sizeof(*r));
}
