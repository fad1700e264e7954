/* SPDX-License-Identifier: MIT */
/* The agent's HTTP endpoint (libmicrohttpd, its own thread): /metrics,
 * /healthz and /events, GET only, from content the agent's loop publishes.
 * Bounded: a connection limit, a per-connection timeout, no request body.
 */
#ifndef GW_HTTP_SERVER_H
#define GW_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>

struct event_log;
struct MHD_Daemon;

struct http_server {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	char *metrics; /* the latest rendering, published by the loop */
	size_t metrics_len;
	struct event_log *events;
	unsigned long requests;
};

/* listen: "127.0.0.1:9947", "0.0.0.0:9947", "[::1]:9947". -EINVAL for a bad
 * address, other -errno if it cannot listen.
 */
int http_server__start(struct http_server *h, const char *listen, struct event_log *events);
void http_server__stop(struct http_server *h);
/* Takes ownership of text (malloc'ed). */
void http_server__publish_metrics(struct http_server *h, char *text, size_t len);
/* Parses "host:port" into a socket address; -EINVAL if it is not one. */
int http_server__parse_listen(const char *listen, void *sockaddr_storage, unsigned *len);

#endif
