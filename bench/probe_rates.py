#!/usr/bin/env python3
"""Which of gilwatch's BPF programs fire how often under one workload.

    probe_rates.py [--deep] [--scale N] WORKLOAD

Runs bench/workloads/WORKLOAD (e.g. pipeline, stat_four) once bare and once
under `gilwatch agent`, and for the agent run prints, per BPF program, its
runs per second of the workload's measured phase and the average time
inside the program (kernel.bpf_stats_enabled is switched on for the
measured phase only, then set back). The cost of a uprobe hit is mostly
the trap, not the program: the last line divides the workload's extra CPU
time by the uprobe hits (programs run in the target's threads; tracepoints
and the GIL-wait task iterator, which runs in the agent, left out).
Needs root. Diagnosis tool, not part of `make bench`.
"""
import argparse
import json
import os
import subprocess
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

STATS = "/proc/sys/kernel/bpf_stats_enabled"
DEFAULT_SCALES = {s[1][:-3]: s[2][0] for s in bench.WORKLOAD_SPECS}


def progs():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out or "[]")


# Not run in the target's threads by a trap: tracepoints, and the GIL-wait
# task iterator (the agent's own read()).
NOT_UPROBES = {"gw_fork", "gw_exit", "gw_exec", "gw_signal_deliver", "gw_sample_waits"}
OWN = set()  # ids of the programs our agent loaded (bpftool here names no pids)
OLD_IDS = set()  # ids loaded before our agent started


def prog_stats(agent_pid):
    stats = {}
    ps = progs()
    if not OWN:  # the agent loads its programs once it runs: the first call, after attach
        OWN.update(p["id"] for p in ps
                   if p["id"] not in OLD_IDS and p.get("name", "").startswith("gw_"))
    for p in ps:
        if p["id"] in OWN:
            key = p.get("name", "?")
            cnt, ns = stats.get(key, (0, 0))
            stats[key] = (cnt + p.get("run_cnt", 0), ns + p.get("run_time_ns", 0))
    return stats


def run(procs, tmp, python, script, scale, agent, tag):
    r = bench.Runner(procs, python, tmp, tag, [(script, script, scale)])
    w = r.phases[0]
    try:
        w.wait_ready()
        before = None
        if agent:
            agent.wait_attached(r.pid, r.proc)
            agent.wait_series(r.pid)
            time.sleep(1.0)
            before = prog_stats(agent.pid)
        old = open(STATS).read().strip()
        if agent:
            with open(STATS, "w") as f:
                f.write("1")
        try:
            c0 = agent.cpu_s() if agent else 0
            w.start()
            facts = w.wait_done()
            c1 = agent.cpu_s() if agent else 0
            after = prog_stats(agent.pid) if agent else None
        finally:
            with open(STATS, "w") as f:
                f.write(old)
        w.release()
        r.wait_exit()
        return facts, before, after, c1 - c0
    finally:
        procs.kill(r.proc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", help="a script of bench/workloads, without .py")
    ap.add_argument("--deep", action="store_true")
    ap.add_argument("--scale", type=int)
    ap.add_argument("--gilwatch", default=os.path.join(bench.ROOT, "build", "gilwatch"))
    ap.add_argument("--python", default=bench.pyenv_python("3.12.1"))
    ap.add_argument("--watch-all", action="store_true", help="agent without --match")
    args = ap.parse_args()
    script = args.workload + ".py"
    scale = args.scale or DEFAULT_SCALES.get(args.workload)
    if scale is None:
        sys.exit("probe_rates: give --scale for %s" % args.workload)
    procs = bench.Procs()
    tmp = tempfile.mkdtemp(prefix=bench.MARK)
    try:
        bare, _, _, _ = run(procs, tmp, args.python, script, scale, None, "bare")
        old_ids = {p["id"] for p in progs()}
        agent = bench.Agent(procs, args, tmp, args.deep, "agent")
        OLD_IDS.update(old_ids)
        try:
            facts, before, after, agent_cpu = run(procs, tmp, args.python, script, scale, agent,
                                                  "agent")
            agent.stop()
        finally:
            procs.kill(agent.proc)
    finally:
        procs.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    wall = facts["wall_s"]
    print("%s (scale %d) on %s: bare wall %.3f s cpu %.3f s; %s wall %.3f s (%.2fx) cpu %.3f s "
          "(%.2fx); agent CPU %.1f%% of a core" % (
              args.workload, scale, facts["python"], bare["wall_s"], bare["cpu_s"],
              "deep" if args.deep else "agent", wall, wall / bare["wall_s"], facts["cpu_s"],
              facts["cpu_s"] / bare["cpu_s"], 100 * agent_cpu / wall))
    print("  %-28s %12s %10s" % ("BPF program", "runs/s", "avg ns"))
    rows, hits = [], 0
    for name, (cnt, ns) in after.items():
        c0, n0 = before.get(name, (0, 0))
        dc, dn = cnt - c0, ns - n0
        if dc:
            rows.append((dc / wall, dn / dc, name))
            hits += dc if name not in NOT_UPROBES else 0
    for rate, avg, name in sorted(rows, reverse=True):
        print("  %-28s %12.0f %10.0f" % (name, rate, avg))
    print("  (the agent's programs, machine-wide: hits in other processes of the probed "
          "binaries (libc!) included)")
    if hits:
        extra = facts["cpu_s"] - bare["cpu_s"]  # same workload, same scale
        print("  uprobe hits %d: the workload's extra CPU %.3f s, %.1f us per hit"
              % (hits, extra, 1e6 * extra / hits))


if __name__ == "__main__":
    try:
        main()
    except bench.BenchError as e:
        sys.exit("probe_rates: %s" % e)
