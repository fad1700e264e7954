#!/usr/bin/env python3
"""The checks the kernel matrix runs inside each guest kernel (matrix.py).

Real gilwatch runs against real interpreters, through the integration
suite's own helpers and tests (tests/integration): a GC count, a deadlock
verdict, a stack dump, a dump on 3.15 (Debian unstable's, in its own root),
the agent's /metrics, and
build/tests/bpf_budget (a missing one fails). Prints `uname -r`, then one PASS/FAIL line per check;
writes everything to OUT/result.json (the guest's console carries no exit
status) and exits 1 if any check failed.
"""
import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import agent_tests  # noqa: E402
import run  # noqa: E402
from harness import (Failure, Watch, check, debian_sid, events_of, pyenv_python,  # noqa: E402
                     summary_of)

PY312 = pyenv_python("3.12.1")
PY311 = pyenv_python("3.11.7")
# The newest Python, stripped, in its own root and mount namespace.
PY315 = debian_sid("python3.15")


def check_gc(gilwatch):
    """gc_exact.py: exactly 50 gen-2 collections on its thread, no others.
    (Watch joins the script to targets/: an absolute path stays as it is.)"""
    events, facts, _ = Watch(gilwatch, PY312, os.path.join(HERE, "gc_exact.py"),
                             timeout=60).run()
    gen2 = [e for e in events_of(events, "gc") if e["generation"] == 2]
    mine = [e for e in gen2 if e["tid"] == facts["tid"]]
    check(len(mine) == 50 and len(gen2) == 50,
          "%d gen-2 collections on the thread, %d in all, expected 50" % (len(mine), len(gen2)))
    count = summary_of(events)["gc"][2]["count"]
    check(count == 50, "summary counts %d gen-2 collections" % count)
    return "50 gen-2 collections on tid %d" % facts["tid"]


def check_deadlock():
    # A reported attempt takes 8-12 s under TCG (3 s on the host): the
    # suite's 15 s window leaves too little once the machine is busy.
    run.FREEZE_WITHIN = 20
    run.test_self_deadlock(PY311, "3.11")
    return "HEAD_LOCK self-deadlock reported on 3.11"


def check_dump():
    run.test_dump_call_chain(PY312, "3.12")
    return "a -> b -> c stack of the live worker, and its native stacks"


def check_dump_newest():
    """3.15 (frame pointers): Python and native stacks of sleeping threads."""
    run.test_dump_call_chain(PY315, "3.15-debian")
    return "a -> b -> c stack on 3.15, and its native stacks"


def check_agent(gilwatch):
    """One workload under the agent: /metrics exports its exact GC counts."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-matrix-")
    load = agent_tests.Workload(PY312, tmp, "a")
    agent = None
    try:
        agent = agent_tests.Agent(gilwatch, tmp, "--quiet")
        agent_tests.wait_for("the agent to attach", lambda: agent.watching(load.pid), 30)
        results, text = agent_tests.run_and_compare_gc(agent, [load])
        agent.stop()
        return "port %d: gilwatch_gc_collections_total = %s for pid %d" % (
            agent.port, results[load.pid]["collections"], load.pid)
    finally:
        agent_tests.cleanup(agent, [load], tmp)


def check_budget(budget, result):
    """Every program loaded with verifier statistics; its lines are kept."""
    out = subprocess.run([budget], capture_output=True, text=True, timeout=300)
    result["budget"] = (out.stdout + out.stderr).splitlines()
    for line in result["budget"]:
        print("    " + line, flush=True)
    check(out.returncode == 0, "exited %d" % out.returncode)
    return "every program within budget"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilwatch", required=True)
    ap.add_argument("--out", required=True, help="a directory the host reads back")
    args = ap.parse_args()
    gilwatch = run.GILWATCH = os.path.abspath(args.gilwatch)  # run.py's tests use it
    budget = os.path.join(os.path.dirname(gilwatch), "tests", "bpf_budget")
    result = {"uname": platform.release(), "checks": [], "budget": None}
    print("uname -r: " + result["uname"], flush=True)
    # The budget first: its load reads the kernel's BTF and gilwatch's
    # files through 9p into the page cache, which the first watch once had
    # to do within its 10 s wait for the attach record (7.2 under TCG).
    checks = [("bpf_budget", functools.partial(check_budget, budget, result)),
              ("gc", functools.partial(check_gc, gilwatch)),
              ("deadlock", check_deadlock), ("dump", check_dump),
              ("dump_3.15", check_dump_newest),
              ("agent", functools.partial(check_agent, gilwatch))]
    for name, fn in checks:
        start = time.monotonic()
        try:
            ok, detail = True, fn()
        except Failure as e:
            ok, detail = False, str(e)
        except Exception as e:  # a harness bug is a failure too
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        took = time.monotonic() - start
        print("%s %s: %s (%.1f s)" % ("PASS" if ok else "FAIL", name, detail, took), flush=True)
        result["checks"].append({"name": name, "ok": ok, "detail": detail,
                                 "seconds": round(took, 1)})
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    sys.exit(0 if all(c["ok"] for c in result["checks"]) else 1)


if __name__ == "__main__":
    main()
