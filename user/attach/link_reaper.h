/* SPDX-License-Identifier: MIT */
/* Detaches probes on a thread of its own. The kernel removes uprobes one at
 * a time, each after an RCU grace period (~0.1 s here; calls from several
 * threads do not overlap): a process's probes took a second, during which
 * the agent's loop handled no event, and processes exiting faster than one
 * a second would have kept it behind for good.
 */
#ifndef GW_LINK_REAPER_H
#define GW_LINK_REAPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct bpf_link;
struct probe_links;

struct link_reaper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct bpf_link **queue;
	size_t n, cap;
	size_t destroyed;
	bool started, stopping;
};

/* -errno if the thread cannot start (links are then destroyed at once). */
int link_reaper__start(struct link_reaper *r);
/* Takes every link of l (l is left empty); destroyed inline when the
 * reaper is not running or out of memory.
 */
void link_reaper__take(struct link_reaper *r, struct probe_links *l);
/* Links queued and not destroyed yet. */
size_t link_reaper__pending(struct link_reaper *r);
/* Destroys what is queued, then ends the thread. */
void link_reaper__stop(struct link_reaper *r);

#endif
