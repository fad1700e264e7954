/* SPDX-License-Identifier: MIT */
/* Container and Kubernetes pod of a process, from its /proc/PID/cgroup.
 *
 * The labels end in Prometheus labels, so they are never text copied from
 * the file: a container id is exactly 64 lowercase hex digits and a pod UID
 * a lowercase UUID, or the field stays empty. Runtimes only write lowercase,
 * so uppercase hex is rejected rather than folded.
 */
#ifndef GW_CGROUP_LABELS_H
#define GW_CGROUP_LABELS_H

#include <sys/types.h>

#define CGROUP_ID_LEN 65 /* 64 hex + NUL */

struct container_labels {
	char container_id[CGROUP_ID_LEN]; /* "" when not in a container */
	char pod_uid[40];    /* "" when not in a Kubernetes pod; dashed form 8-4-4-4-12 */
	const char *runtime; /* "containerd", "cri-o", "docker", or NULL */
};

/* Parses the text of a /proc/PID/cgroup file (cgroup v1: many
 * "N:controllers:path" lines; v2: "0::path"). The innermost container and
 * pod of the path count; of several v1 lines, the first that names a
 * container, else the first that names a pod. A host process gives 0 and
 * empty labels; -EINVAL if no line is a cgroup line (out is then empty).
 */
int cgroup_labels__parse(const char *text, struct container_labels *out);
/* Reads /proc/PID/cgroup; -ESRCH if the process is gone, -EINVAL for pid <= 0. */
int cgroup_labels__read(pid_t pid, struct container_labels *out);

#endif
