// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_labels.h"

#define HEX_ID_LEN 64
#define UUID_LEN 36

/* A piece of a line, not NUL-terminated. */
struct span {
	const char *s;
	size_t len;
};

static struct span span_tail(struct span a, size_t from)
{
	return (struct span){a.s + from, a.len - from};
}

static bool span_eq(struct span a, const char *lit)
{
	return a.len == strlen(lit) && !memcmp(a.s, lit, a.len);
}

static bool span_ends(struct span a, const char *lit)
{
	size_t n = strlen(lit);

	return a.len >= n && !memcmp(a.s + a.len - n, lit, n);
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool set_id(struct span id, const char *runtime, struct container_labels *l)
{
	size_t i;

	if (id.len != HEX_ID_LEN)
		return false;
	for (i = 0; i < HEX_ID_LEN; i++) {
		if (!is_lower_hex(id.s[i]))
			return false;
	}
	memcpy(l->container_id, id.s, HEX_ID_LEN);
	l->container_id[HEX_ID_LEN] = '\0';
	l->runtime = runtime;
	return true;
}

/* Pod UIDs are 8-4-4-4-12 with sep: '-' in cgroupfs paths, '_' in systemd
 * slice names, where '-' separates the levels of the slice.
 */
static bool set_pod(struct span u, char sep, struct container_labels *l)
{
	char uid[UUID_LEN + 1];
	size_t i;

	if (u.len != UUID_LEN)
		return false;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u.s[i] != sep)
				return false;
			uid[i] = '-';
		} else if (is_lower_hex(u.s[i])) {
			uid[i] = u.s[i];
		} else {
			return false;
		}
	}
	uid[UUID_LEN] = '\0';
	memcpy(l->pod_uid, uid, sizeof(uid));
	/* A container above the pod is the node's (kind, minikube), not the pod's. */
	l->container_id[0] = '\0';
	l->runtime = NULL;
	return true;
}

/* The QoS levels above a pod: guaranteed pods sit right in kubepods. */
static const char *const qos_dirs[] = {"kubepods", "burstable", "besteffort"};
static const char *const qos_slices[] = {"kubepods", "kubepods-burstable", "kubepods-besteffort"};

/* cgroupfs: .../kubepods[/burstable|/besteffort]/pod<uid>; systemd:
 * [<root>-]kubepods[-burstable|-besteffort]-pod<uid_>.slice, where <root>
 * comes from kubelet's --cgroup-root (kind: "kubelet-kubepods-...").
 */
static bool parse_pod(struct span c, struct span parent, struct container_labels *l)
{
	struct span level;
	size_t i, n;

	if (c.len == 3 + UUID_LEN && !memcmp(c.s, "pod", 3)) {
		for (i = 0; i < sizeof(qos_dirs) / sizeof(qos_dirs[0]); i++) {
			if (span_eq(parent, qos_dirs[i]))
				return set_pod(span_tail(c, 3), '-', l);
		}
		return false;
	}
	if (c.len < 4 + UUID_LEN + 6 || !span_ends(c, ".slice"))
		return false;
	level = (struct span){c.s, c.len - 6 - UUID_LEN - 4};
	if (memcmp(level.s + level.len, "-pod", 4))
		return false;
	for (i = 0; i < sizeof(qos_slices) / sizeof(qos_slices[0]); i++) {
		n = strlen(qos_slices[i]);
		if (span_ends(level, qos_slices[i]) &&
		    (level.len == n || level.s[level.len - n - 1] == '-'))
			return set_pod((struct span){level.s + level.len + 4, UUID_LEN}, '_', l);
	}
	return false;
}

/* The names runtimes give container cgroups, before the id. */
static const struct {
	const char *prefix, *runtime;
} runtimes[] = {
    {"cri-containerd", "containerd"},
    {"crio", "cri-o"},
    {"docker", "docker"},
};

/* "<prefix><sep><id>". CRI-O's monitor, crio-conmon-<id>, is not the
 * container and does not match: "conmon-<id>" is no id.
 */
static bool parse_runtime_id(struct span s, char sep, struct container_labels *l)
{
	size_t i, n;

	for (i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		n = strlen(runtimes[i].prefix);
		if (s.len > n && !memcmp(s.s, runtimes[i].prefix, n) && s.s[n] == sep)
			return set_id(span_tail(s, n + 1), runtimes[i].runtime, l);
	}
	return false;
}

static void parse_component(struct span c, struct span parent, struct container_labels *l)
{
	const char *colon = memchr(c.s, ':', c.len);
	struct span name = c;

	/* runc's systemd form "slice:prefix:id", taken as a plain name when
	 * kubelet uses the systemd driver and the runtime cgroupfs (it then
	 * sits under the runtime's own cgroup, .../containerd.service/).
	 */
	if (colon) {
		parse_pod((struct span){c.s, colon - c.s}, parent, l);
		parse_runtime_id(span_tail(c, colon - c.s + 1), ':', l);
		return;
	}
	if (parse_pod(c, parent, l))
		return;
	/* systemd driver: <prefix>-<id>.scope; CRI-O with cgroupfs and its pod
	 * sandboxes: crio-<id>.
	 */
	if (span_ends(name, ".scope"))
		name.len -= 6;
	if (parse_runtime_id(name, '-', l))
		return;
	/* cgroupfs: a bare id, under /docker/ for docker itself; under a pod
	 * it may be docker or containerd.
	 */
	set_id(c, span_eq(parent, "docker") ? "docker" : NULL, l);
}

/* "N:controllers:/path" into l; false if the line is not one. */
static bool parse_line(const char *line, size_t len, struct container_labels *l)
{
	const char *end = line + len, *p = line, *slash;
	struct span parent = {"", 0}, c;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == line || p == end || *p != ':')
		return false;
	p = memchr(p + 1, ':', end - p - 1);
	if (!p || ++p == end || *p != '/')
		return false;
	memset(l, 0, sizeof(*l));
	/* The innermost container and pod win: later components overwrite. */
	while (p < end) {
		p++;
		slash = memchr(p, '/', end - p);
		if (!slash)
			slash = end;
		c = (struct span){p, slash - p};
		p = slash;
		if (!c.len)
			continue;
		parse_component(c, parent, l);
		parent = c;
	}
	return true;
}

int cgroup_labels__parse(const char *text, struct container_labels *out)
{
	struct container_labels line;
	bool any = false;
	const char *nl;

	memset(out, 0, sizeof(*out));
	for (;; text = nl + 1) {
		nl = strchrnul(text, '\n');
		if (parse_line(text, nl - text, &line)) {
			any = true;
			/* v1 lines usually agree, but some controllers stay at "/". */
			if (line.container_id[0]) {
				*out = line;
				return 0;
			}
			if (line.pod_uid[0] && !out->pod_uid[0])
				*out = line;
		}
		if (!*nl)
			break;
	}
	return any ? 0 : -EINVAL;
}

int cgroup_labels__read(pid_t pid, struct container_labels *out)
{
	char path[32], *text = NULL;
	size_t cap = 0;
	FILE *f;
	int err;

	memset(out, 0, sizeof(*out));
	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	/* The whole file, however long its paths: it holds no NUL. */
	if (getdelim(&text, &cap, '\0', f) < 0)
		err = ferror(f) ? -errno : -EINVAL;
	else
		err = cgroup_labels__parse(text, out);
	free(text);
	fclose(f);
	return err;
}
