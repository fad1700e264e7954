#!/usr/bin/env python3
"""`gilwatch dump` beside py-spy and pystack (make bench, make bench-smoke).

A CPython 3.12 process with 128 threads: 126 asleep (Event.wait, Queue.get,
Lock.acquire, time.sleep), one ticker running a pure-Python loop that notes
every gap of more than 1 ms between two of its iterations, and the main
thread waiting for the bench's questions. Each tool dumps every thread of
it, round by round in turn (medians of N rounds): its wall time, and the
longest gap the ticker saw while it ran against the longest in as long a
window with no tool (the pause it inflicted). py-spy and pystack are pinned
from PyPI into venvs under build/. Figures go to stdout and a JSON file.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "build")
PY_SPY = "py-spy==0.4.3"
PYSTACK = "pystack==1.7.2"
THREADS = 128

TARGET = r"""
import queue, sys, threading, time
ev, q, lk = threading.Event(), queue.Queue(), threading.Lock()
lk.acquire()
def sleeper(i):
    (ev.wait, q.get, lk.acquire, lambda: time.sleep(3600))[i % 4]()
for i in range(THREADS - 2):
    threading.Thread(target=sleeper, args=(i,), daemon=True).start()
gaps = []
def ticker():
    last = time.perf_counter()
    while True:
        t = time.perf_counter()
        if t - last > 0.001:
            gaps.append((time.monotonic(), t - last))
        last = t
threading.Thread(target=ticker, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    s, e = map(float, line.split())
    print(max([g for m, g in gaps if s <= m <= e] or [0.0]), flush=True)
""".replace("THREADS", str(THREADS))


def pyenv_python(version):
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    return os.path.join(root or os.path.expanduser("~/.pyenv"), "versions", version, "bin",
                        "python" + version[:1])


def venv_tool(requirement, tool):
    """The tool's executable from a venv of pyenv 3.11.7 holding requirement."""
    venv = os.path.join(BUILD, "venv-" + requirement.replace("==", "-"))
    if not os.path.exists(os.path.join(venv, ".complete")):
        subprocess.run([pyenv_python("3.11.7"), "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                        requirement], check=True)
        open(os.path.join(venv, ".complete"), "w").close()
    return os.path.join(venv, "bin", tool)


class Target:
    def __init__(self):
        self.proc = subprocess.Popen([pyenv_python("3.12.1"), "-c", TARGET],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("bench: the target did not start")
        while len(os.listdir("/proc/%d/task" % self.proc.pid)) < THREADS:
            time.sleep(0.05)
        time.sleep(0.5)

    def max_gap(self, start, end):
        self.proc.stdin.write("%f %f\n" % (start, end))
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self):
        self.proc.kill()
        self.proc.wait()


def run_once(argv, target):
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True)
    end = time.monotonic()
    if out.returncode != 0:
        sys.exit("bench: %s failed (%d): %s" % (argv[0], out.returncode, out.stderr[-300:]))
    time.sleep(0.05)  # the ticker's last gap is noted when it runs again
    return end - start, target.max_gap(start, end + 0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilwatch", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="3 rounds, figures not judged")
    ap.add_argument("--out", default=os.path.join(HERE, "dump_results.json"))
    args = ap.parse_args()
    rounds = 3 if args.smoke else args.rounds
    tools = {
        "gilwatch dump": lambda pid: [args.gilwatch, "dump", "--pid", str(pid)],
        "gilwatch dump --no-native": lambda pid: [args.gilwatch, "dump", "--pid", str(pid),
                                                  "--no-native"],
        "py-spy dump --native": lambda pid: [venv_tool(PY_SPY, "py-spy"), "dump", "--native",
                                             "--pid", str(pid)],
        "pystack remote --native": lambda pid: [venv_tool(PYSTACK, "pystack"), "remote",
                                                "--native", str(pid)],
    }
    target = Target()
    res = {name: {"wall_s": [], "pause_s": []} for name in list(tools) + ["no tool"]}
    try:
        for name in tools:  # venvs made, files in the page cache
            run_once(tools[name](target.proc.pid), target)
        for _ in range(rounds):
            for name, argv in tools.items():
                wall, gap = run_once(argv(target.proc.pid), target)
                res[name]["wall_s"].append(wall)
                res[name]["pause_s"].append(gap)
            start = time.monotonic()
            time.sleep(statistics.median(res["gilwatch dump"]["wall_s"]))
            res["no tool"]["pause_s"].append(target.max_gap(start, time.monotonic()))
    finally:
        target.close()
    summary = {"threads": THREADS, "python": "3.12.1", "rounds": rounds,
               "py_spy": PY_SPY, "pystack": PYSTACK, "tools": {}}
    print("%-28s %12s %22s" % ("tool (%d threads, %d rounds)" % (THREADS, rounds),
                               "wall (median)", "longest target gap"))
    for name, r in res.items():
        wall = statistics.median(r["wall_s"]) if r["wall_s"] else None
        gap = statistics.median(r["pause_s"])
        summary["tools"][name] = {"wall_s_median": wall, "gap_s_median": gap,
                                  "wall_s": r["wall_s"], "gap_s": r["pause_s"]}
        print("%-28s %12s %19.1f ms" % (name, "%.3f s" % wall if wall else "-", gap * 1e3))
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
