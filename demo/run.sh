#!/usr/bin/env bash
# `make demo`: starts the demo worker and watches it until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
python=""
for p in "$(pyenv root 2>/dev/null)/versions/3.11.7/bin/python3" \
	 "$HOME/.pyenv/versions/3.11.7/bin/python3" /usr/bin/python3; do
	[ -x "$p" ] && { python=$p; break; }
done
[ -n "$python" ] || { echo "gilwatch: no Python for the demo" >&2; exit 1; }
"$python" demo/worker.py &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT
sleep 0.5
build/gilwatch watch --pid "$worker" "$@"
