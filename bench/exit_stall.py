#!/usr/bin/env python3
"""Reproducer: a watched process's exit stalls the agent for ~1 s.

    exit_stall.py [--gap S ...]

Under one `gilwatch agent`, process A (bench/workloads/stat_one.py) runs and
idles; process B (stat_four.py, 4 threads contending for the GIL) is
attached and waits; A exits; B runs GAP seconds later. While the agent lets
go of A (closing ~8 uprobe perf events, each ~0.1 s in the kernel's
synchronize_rcu_tasks_trace), its event loop handles nothing, so B's first
GIL wait's return site is not probed and B's GIL waits go uncounted
(gilwatch_gil_wait_seconds_count stays 0 for the run; B's wall time also
differed, up to 2x slower, in some trials). With a gap of 1.5 s or more B
is measured normally. Every process is killed on exit.
Diagnosis tool, not part of `make bench`.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def once(args, gap):
    procs = bench.Procs()
    tmp = tempfile.mkdtemp(prefix=bench.MARK)
    try:
        agent = bench.Agent(procs, args, tmp, False, "agent")
        a = bench.Runner(procs, args.python, tmp, "A", [("A", "stat_one.py", 100_000)])
        b = bench.Runner(procs, args.python, tmp, "B", [("B", "stat_four.py", 10_000)])
        for r in (a, b):
            r.phases[0].wait_ready()
            agent.wait_attached(r.pid, r.proc)
            agent.wait_series(r.pid)
        time.sleep(1.2)
        pa = a.phases[0]
        pa.start()
        pa.wait_done()
        pa.release()
        a.wait_exit()
        time.sleep(gap)
        pb = b.phases[0]
        before = agent.metrics()
        pb.start()
        facts = pb.wait_done()
        at_end = agent.metrics()
        after = agent.metrics_after(at_end, pb.done_t)
        waits = (bench.pid_sum(after, "gilwatch_gil_wait_seconds_count", b.pid)
                 - bench.pid_sum(before, "gilwatch_gil_wait_seconds_count", b.pid))
        print("B ran %.2f s after A exited: %4d GIL waits counted, wall %.3f s, cpu %.3f s, "
              "%d voluntary context switches" % (gap, waits, facts["wall_s"], facts["cpu_s"],
                                                  facts["vol_ctx"]), flush=True)
        pb.release()
        agent.stop()
    finally:
        procs.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gap", type=float, nargs="+", default=[0.0, 0.3, 1.5, 3.0])
    ap.add_argument("--gilwatch", default=os.path.join(bench.ROOT, "build", "gilwatch"))
    ap.add_argument("--python", default=bench.pyenv_python("3.12.1"))
    ap.add_argument("--watch-all", action="store_true", help="agent without --match")
    args = ap.parse_args()
    for gap in args.gap:
        once(args, gap)


if __name__ == "__main__":
    try:
        main()
    except bench.BenchError as e:
        sys.exit("exit_stall: %s" % e)
