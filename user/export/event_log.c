// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_log.h"

/* Kept for /events; the rest (gc, frames, threads) is for metrics only. */
static const char *const kept[] = {"attach", "deadlock", "stall", "hazard", "lock_order", "crash"};
static const char *const verdicts[] = {"deadlock", "stall", "hazard", "lock_order", "crash"};

static bool is_event(const char *line, const char *const *names, size_t n)
{
	char want[48];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "{\"event\":\"%s\"", names[i]);
		if (!strncmp(line, want, strlen(want)))
			return true;
	}
	return false;
}

/* "deadlock in pid 42: thread 12 (holds HEAD_LOCK) waits for ..." */
static void tell(struct event_log *l, const char *line)
{
	const char *ev = line + strlen("{\"event\":\""), *end = strchr(ev, '"');
	const char *pid = strstr(line, "\"pid\":"), *what = strstr(line, "\"description\":\"");
	const char *rule = strstr(line, "\"rule\":\"");

	if (!l->terminal || !end)
		return;
	fprintf(l->terminal, "!! %.*s in pid %ld", (int)(end - ev), ev,
		pid ? strtol(pid + 6, NULL, 10) : 0L);
	if (rule)
		fprintf(l->terminal, " (%.*s)", (int)strcspn(rule + 8, "\""), rule + 8);
	if (what)
		fprintf(l->terminal, ": %.*s", (int)strcspn(what + 15, "\""), what + 15);
	fputs(" (GET /events for the full report)\n", l->terminal);
	fflush(l->terminal);
}

static void keep_line(struct event_log *l, char *line)
{
	size_t i;

	if (!is_event(line, kept, sizeof(kept) / sizeof(kept[0]))) {
		free(line);
		return;
	}
	if (is_event(line, verdicts, sizeof(verdicts) / sizeof(verdicts[0])))
		tell(l, line);
	pthread_mutex_lock(&l->lock);
	if (l->n == EVENT_LOG_SLOTS) {
		free(l->slot[l->head]);
		l->slot[l->head] = line;
		l->head = (l->head + 1) % EVENT_LOG_SLOTS;
	} else {
		i = (l->head + l->n++) % EVENT_LOG_SLOTS;
		l->slot[i] = line;
	}
	pthread_mutex_unlock(&l->lock);
}

static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
	struct event_log *l = cookie;
	size_t i, start = 0;

	for (i = 0; i < size; i++) {
		size_t add = i - start;
		char *grown;

		if (buf[i] != '\n')
			continue;
		/* A record larger than the limit is dropped, not truncated. */
		if (l->partial_len + add < EVENT_LOG_LINE_MAX &&
		    (grown = realloc(l->partial, l->partial_len + add + 1))) {
			memcpy(grown + l->partial_len, buf + start, add);
			grown[l->partial_len + add] = '\0';
			l->partial = NULL;
			keep_line(l, grown);
		} else {
			free(l->partial);
			l->partial = NULL;
		}
		l->partial_len = 0;
		start = i + 1;
	}
	if (start < size) {
		size_t add = size - start;
		char *grown = l->partial_len + add < EVENT_LOG_LINE_MAX
				  ? realloc(l->partial, l->partial_len + add + 1)
				  : NULL;

		if (!grown)
			return -1;
		memcpy(grown + l->partial_len, buf + start, add);
		l->partial = grown;
		l->partial_len += add;
	}
	return size;
}

int event_log__init(struct event_log *l, FILE *terminal)
{
	cookie_io_functions_t io = {.write = log_write};

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->terminal = terminal;
	l->stream = fopencookie(l, "w", io);
	if (!l->stream)
		return -errno;
	/* Whole records reach log_write() at the writer's flush. */
	setvbuf(l->stream, NULL, _IOFBF, 64 * 1024);
	return 0;
}

void event_log__destroy(struct event_log *l)
{
	size_t i;

	if (l->stream)
		fclose(l->stream);
	for (i = 0; i < l->n; i++)
		free(l->slot[(l->head + i) % EVENT_LOG_SLOTS]);
	free(l->partial);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

char *event_log__json(struct event_log *l, size_t *len)
{
	size_t i, total = 3;
	char *out, *p;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < l->n; i++)
		total += strlen(l->slot[(l->head + i) % EVENT_LOG_SLOTS]) + 2;
	out = malloc(total);
	if (out) {
		p = out;
		*p++ = '[';
		for (i = 0; i < l->n; i++) {
			const char *s = l->slot[(l->head + i) % EVENT_LOG_SLOTS];
			size_t n = strlen(s);

			if (i)
				*p++ = ',';
			memcpy(p, s, n);
			p += n;
		}
		*p++ = ']';
		*p = '\0';
		*len = p - out;
	}
	pthread_mutex_unlock(&l->lock);
	return out;
}
