// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "event_log.h"
#include "http_server.h"
#include "proc.h"

#define MAX_CONNECTIONS 64
#define CONNECTION_TIMEOUT_S 10
#define PROMETHEUS_TEXT "text/plain; version=0.0.4; charset=utf-8"

int http_server__parse_listen(const char *listen, void *storage, unsigned *len)
{
	struct sockaddr_in6 *in6 = storage;
	struct sockaddr_in *in = storage;
	char host[64], *colon;
	const char *port_s;
	pid_t port;

	if (!listen || strlen(listen) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%s", listen);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	port_s = colon + 1;
	/* proc__parse_pid: a positive decimal number, nothing else. */
	if (proc__parse_pid(port_s, &port) || port > 65535)
		return -EINVAL;
	memset(storage, 0, sizeof(struct sockaddr_in6));
	if (host[0] == '[' && colon > host && colon[-1] == ']') {
		colon[-1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -EINVAL;
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	*len = sizeof(*in);
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct http_server *h, struct MHD_Connection *c)
{
	char *copy;
	size_t len;

	pthread_mutex_lock(&h->lock);
	len = h->metrics_len;
	copy = h->metrics ? malloc(len ? len : 1) : NULL;
	if (copy)
		memcpy(copy, h->metrics, len);
	pthread_mutex_unlock(&h->lock);
	if (!copy)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "starting\n", 9,
			     MHD_RESPMEM_PERSISTENT);
	return reply(c, MHD_HTTP_OK, PROMETHEUS_TEXT, copy, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	static int first_call;
	struct http_server *h = cls;
	size_t len;
	char *body;

	/* The first call only announces the request (headers read). */
	if (!*state) {
		*state = &first_call;
		return MHD_YES;
	}
	if (*upload_size) /* no request bodies here */
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "no body\n", 8,
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9,
			     MHD_RESPMEM_PERSISTENT);
	__atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(h, c);
	if (!strcmp(url, "/healthz"))
		return reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/events")) {
		body = event_log__json(h->events, &len);
		if (!body)
			return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "no memory\n",
				     10, MHD_RESPMEM_PERSISTENT);
		return reply(c, MHD_HTTP_OK, "application/json", body, len, MHD_RESPMEM_MUST_FREE);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
		     "not found: try /metrics, /healthz or /events\n", 45, MHD_RESPMEM_PERSISTENT);
}

int http_server__start(struct http_server *h, const char *listen, struct event_log *events)
{
	struct sockaddr_storage addr;
	unsigned len;
	int err = http_server__parse_listen(listen, &addr, &len);

	memset(h, 0, sizeof(*h));
	if (err)
		return err;
	pthread_mutex_init(&h->lock, NULL);
	h->events = events;
	h->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		(addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_END);
	if (!h->daemon) {
		err = errno ? -errno : -EADDRINUSE;
		pthread_mutex_destroy(&h->lock);
		return err;
	}
	return 0;
}

void http_server__stop(struct http_server *h)
{
	if (!h->daemon)
		return;
	MHD_stop_daemon(h->daemon);
	free(h->metrics);
	pthread_mutex_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}

void http_server__publish_metrics(struct http_server *h, char *text, size_t len)
{
	char *old;

	pthread_mutex_lock(&h->lock);
	old = h->metrics;
	h->metrics = text;
	h->metrics_len = len;
	pthread_mutex_unlock(&h->lock);
	free(old);
}
