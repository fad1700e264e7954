/* SPDX-License-Identifier: MIT */
/* The agent's recent reports: sessions write JSON Lines into a FILE* that
 * keeps the verdicts (deadlock, stall, hazard, lock_order, crash) and
 * attaches in a bounded ring for /events, and says each verdict in one line
 * on the terminal. Readable from the HTTP threads.
 */
#ifndef GW_EVENT_LOG_H
#define GW_EVENT_LOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#define EVENT_LOG_SLOTS 256
#define EVENT_LOG_LINE_MAX (256 * 1024)

struct event_log {
	pthread_mutex_t lock;
	char *slot[EVENT_LOG_SLOTS]; /* JSON objects, oldest first from head */
	size_t head, n;
	char *partial; /* the line being written */
	size_t partial_len;
	FILE *terminal; /* one line per verdict; NULL: quiet */
	FILE *stream;	/* what sessions write to */
};

/* -errno. */
int event_log__init(struct event_log *l, FILE *terminal);
void event_log__destroy(struct event_log *l);
/* The kept events as one JSON array (malloc'ed, NUL-terminated). */
char *event_log__json(struct event_log *l, size_t *len);

#endif
