#!/bin/bash
# Runs a command as if in a container: in a Kubernetes-style cgroup (v1
# pids hierarchy, cgroupfs driver: kubepods/burstable/pod<UID>/<ID>), in its
# own mount namespace, chrooted into a root where the interpreter lives at
# /opt/python and the SHARED_DIRs at their own paths. Every step execs: the
# command keeps this script's pid.
# usage: container.sh POD_UID CONTAINER_ID PYTHON_PREFIX SHARED_DIR... -- CMD...
set -euo pipefail
pod=$1 id=$2 prefix=$3
shift 3
shared=()
while [ "$1" != "--" ]; do shared+=("$1"); shift; done
shift
cg=/sys/fs/cgroup/pids/kubepods/burstable/pod$pod/$id
mkdir -p "$cg"
echo $$ >"$cg/cgroup.procs"
root=$(mktemp -d "${shared[0]}/root-XXXXXX") # removed with that dir
SHARED=${#shared[@]}
export root prefix SHARED
exec unshare -m --propagation private bash -c '
	set -e
	mount -t tmpfs gilwatch-root "$root"
	for d in usr etc dev; do mkdir "$root/$d"; mount --rbind "/$d" "$root/$d"; done
	for l in bin lib lib64 sbin; do ln -s "usr/$l" "$root/$l"; done
	mkdir -p "$root/opt/python" "$root/tmp"
	mount --bind "$prefix" "$root/opt/python"
	for d in "${@:1:$SHARED}"; do mkdir -p "$root$d"; mount --bind "$d" "$root$d"; done
	shift $SHARED
	exec chroot "$root" "$@"' \
	container "${shared[@]}" "$@"
