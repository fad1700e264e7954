#!/usr/bin/env python3
"""gilwatch soak run (issue 8): `make soak`, not in CI.

One agent for --duration seconds (default an hour) over churn: processes
that start and exit, each running thousands of short threads
(tests/integration/targets/thread_churn.py), a parent forking and exec'ing
children (fork_churn.py), and every --freeze-every seconds the Beam-like
3.11 freeze. Every freeze must be reported as a deadlock, and the agent's
memory must stay flat: its RSS at the end within 10% (+2 MiB) of its RSS
after the first five minutes (or the first fifth of a shorter run).
Exit 0 when both hold, 1 otherwise; every figure in --out (JSON).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import bench

TARGETS = os.path.join(bench.ROOT, "tests", "integration", "targets")
CHURN = (("thread_churn.py", "20"), ("fork_churn.py", "40"))


def start_churn(procs, python, tmp, n):
    """A churn process, started at once (its go file exists already)."""
    script, arg = CHURN[n % len(CHURN)]
    go = os.path.join(tmp, "churn-%d.go" % n)
    open(go, "w").close()
    with open(go + ".err", "w") as err:
        p = procs.start([python, os.path.join(TARGETS, script), go, go + ".facts", arg],
                        stdout=subprocess.DEVNULL, stderr=err)
    p.gw_facts = go + ".facts"
    return p


def finished(p):
    """Exited, or done (it idles once it has reported): its place is free."""
    return p.poll() is not None or os.path.exists(p.gw_facts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilwatch", default=os.path.join(bench.ROOT, "build", "gilwatch"))
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--freeze-every", type=float, default=180)
    ap.add_argument("--python", default=bench.pyenv_python("3.12.1"))
    ap.add_argument("--python311", default=bench.pyenv_python("3.11.7"))
    ap.add_argument("--out", default=os.path.join(bench.ROOT, "build", "soak.json"))
    args = ap.parse_args()
    args.watch_all = True  # the churn's children carry no mark
    procs, tmp = bench.Procs(), tempfile.mkdtemp(prefix="gwbench-soak-")
    freezes, rss, started = [], [], 0
    try:
        agent = bench.Agent(procs, args, tmp, False, "agent-soak")
        t0 = time.monotonic()
        next_freeze, next_rss, churn = t0 + args.freeze_every, t0, []
        while time.monotonic() - t0 < args.duration:
            now = time.monotonic()
            for p in [p for p in churn if finished(p)]:
                procs.kill(p)
                churn.remove(p)
            while len(churn) < len(CHURN):
                churn.append(start_churn(procs, args.python, tmp, started))
                started += 1
            if now >= next_rss:
                rss.append((round(now - t0, 1), bench.proc_status_kib(agent.pid, "VmRSS")))
                next_rss += 60
            if now >= next_freeze:
                rec = bench.freeze_once(agent, procs, args, tmp, "soak-%d" % len(freezes))
                freezes.append(rec)
                bench.log("soak: %.0f s: freeze %d %s" % (
                    now - t0, len(freezes),
                    "reported in %.2f s" % rec["frozen_s"] if rec else "NOT REPORTED"))
                next_freeze += args.freeze_every
            time.sleep(0.5)
        rss.append((round(time.monotonic() - t0, 1), bench.proc_status_kib(agent.pid, "VmRSS")))
        agent.stop()
    finally:
        procs.kill_all()
    warm = next((kib for t, kib in rss if t >= min(300, args.duration / 5)), rss[-1][1])
    flat = rss[-1][1] <= warm * 1.10 + 2048
    reported = sum(1 for r in freezes if r)
    result = {"duration_s": args.duration, "churn_processes": started, "freezes": freezes,
              "reported": reported, "rss_kib": rss, "rss_warm_kib": warm, "rss_flat": flat}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("soak: %.0f s, %d churn processes, %d/%d freezes reported, agent RSS %d KiB after "
          "warm-up, %d KiB at the end (%s); %s" % (
              args.duration, started, reported, len(freezes), warm, rss[-1][1],
              "flat" if flat else "GREW", args.out))
    return 0 if flat and reported == len(freezes) and freezes else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bench.BenchError as e:
        sys.exit("soak: %s" % e)
    except KeyboardInterrupt:
        sys.exit(130)
