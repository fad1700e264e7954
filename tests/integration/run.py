#!/usr/bin/env python3
"""Integration tests: the real BPF programs, attached to real interpreters.

Needs root (BPF). Nothing is skipped: an interpreter that is missing or a
BPF program that does not load fails the suite.
"""
import argparse
import functools
import os
import subprocess
import sys
import time

from harness import (SUPPORTED, UNSUPPORTED, TARGETS, Failure, Watch, check, events_of,
                     fail_loudly, probes_left_behind, run_tests, summary_of)

GILWATCH = None


def watch(python, script, *args):
    return Watch(GILWATCH, python, script, args).run()


def test_gc(python, label):
    events, facts, _ = watch(python, "gc_collect.py")
    gen2 = [e for e in events_of(events, "gc")
            if e["generation"] == 2 and e["pid"] == events[0]["pid"]]
    check(len(gen2) >= 50, "%d generation-2 gc events, expected >= 50" % len(gen2))
    explicit = [e for e in gen2 if e["tid"] == facts["tid"]]
    check(len(explicit) >= 50, "only %d gen-2 collections on the calling thread" % len(explicit))
    check(all(e["duration_ns"] > 0 for e in gen2), "a gc event without duration")
    s = summary_of(events)
    check(s["gc"][2]["count"] == len(gen2),
          "summary gen2 count %d != %d events" % (s["gc"][2]["count"], len(gen2)))


def test_frames(python, label):
    events, facts, _ = watch(python, "current_frames.py")
    frames = events_of(events, "frames")
    cf = [e for e in frames if e["api"] == "current_frames"]
    ce = [e for e in frames if e["api"] == "current_exceptions"]
    check(len(cf) == 100, "%d current_frames events, expected 100" % len(cf))
    check(len(ce) == 10, "%d current_exceptions events, expected 10" % len(ce))
    wrong = {e["tid"] for e in frames} - {facts["tid"]}
    check(not wrong, "frames events from tids %s, expected only %d" % (wrong, facts["tid"]))
    s = summary_of(events)
    check(s["frames"]["current_frames"]["calls"] == 100, "summary frames calls != 100")


def test_contention(python, label):
    events, facts, _ = watch(python, "gil_contention.py")
    s = summary_of(events)
    rows = {t["tid"]: t for t in s["threads"]}
    for tid in facts["tids"]:
        check(tid in rows, "thread %d missing from the summary" % tid)
        check(rows[tid]["gil_wait_ns"] > 0 and rows[tid]["gil_waits"] > 0,
              "thread %d shows no GIL wait: %s" % (tid, rows[tid]))
    check(sum(s["gil_wait_hist"][i]["count"] for i in range(len(s["gil_wait_hist"]))) > 0,
          "empty GIL wait histogram")
    share = sum(rows[t]["gil_share"] for t in facts["tids"])
    check(share > 0.5, "spinning threads held the GIL in only %.0f%% of samples" % (100 * share))
    started = {e["tid"] for e in events_of(events, "thread_start")}
    ended = {e["tid"] for e in events_of(events, "thread_end")}
    check(set(facts["tids"]) <= started, "thread_start missing for %s" % facts["tids"])
    check(set(facts["tids"]) <= ended, "thread_end missing for %s" % facts["tids"])
    check(s["threads_started"] >= 2 and s["threads_ended"] >= 2, "thread counters wrong")


def test_deep(python, label):
    events, facts, err = watch(python, "gil_contention.py", "--deep")
    s = summary_of(events)
    probes = events_of(events, "attach")[0]["probes"]
    if label == "3.11-debian":
        # Stripped build: said once, plainly, and the rest still works.
        check("take_gil not found (stripped)" in err, "stripped build not explained: %s" % err)
        check(probes["take_gil"].get("unavailable"), "take_gil should be unavailable")
        check(probes["gc"]["method"] == "usdt", "GC should come from USDT")
        return
    rows = {t["tid"]: t for t in s["threads"]}
    for tid in facts["tids"]:
        check(rows[tid]["gil_hold_ns"] > 100_000_000,
              "thread %d held the GIL %d ns under --deep" % (tid, rows[tid]["gil_hold_ns"]))
        check(rows[tid]["gil_acquires"] > 0, "no acquisitions for %d" % tid)
    check(s["gil_handoffs"] >= 2, "gil_handoffs %d" % s["gil_handoffs"])


def run_bad(args, timeout=2.0):
    """Runs gilwatch on bad input: returns (rc, stderr lines, seconds)."""
    start = time.monotonic()
    p = subprocess.run([GILWATCH, *args], capture_output=True, text=True, timeout=10)
    took = time.monotonic() - start
    check(took < timeout, "took %.1fs (limit %.0fs)" % (took, timeout))
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    return p.returncode, lines, took


def expect_one_line(args, rc_expected, words):
    rc, lines, _ = run_bad(args)
    check(rc == rc_expected, "exit %d, expected %d (%s)" % (rc, rc_expected, lines))
    check(len(lines) == 1, "expected one stderr line, got %r" % lines)
    for w in words:
        check(w in lines[0], "%r not in %r" % (w, lines[0]))
    left = probes_left_behind()
    check(not left, "probes left behind: %s" % left)


def test_no_such_pid():
    expect_one_line(["watch", "--pid", "4194999"], 3, ["no process with pid 4194999"])


def test_not_python():
    p = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.1)
        expect_one_line(["watch", "--pid", str(p.pid)], 4, ["not a CPython process"])
    finally:
        p.kill()
        p.wait()


def test_unsupported(label, python):
    p = subprocess.Popen([python, os.path.join(TARGETS, "idle.py")])
    try:
        time.sleep(0.3)
        expect_one_line(["watch", "--pid", str(p.pid)], 5, ["not supported", label])
        check(p.poll() is None, "the target did not survive")
    finally:
        p.kill()
        p.wait()


def test_exits_while_attaching():
    """Targets that exit in the middle of attaching: 3 (gone before), 6 (gone
    during) or 0 (attached, then saw it exit); never a crash or a hang."""
    seen = set()
    python = SUPPORTED[1][1]
    for delay in (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2):
        p = subprocess.Popen([python, "-c", "import time; time.sleep(%f)" % delay])
        rc, lines, _ = run_bad(["watch", "--pid", str(p.pid)])
        p.wait()
        check(rc in (0, 3, 6), "exit %d: %s" % (rc, lines))
        if rc:
            check(len(lines) == 1, "expected one stderr line, got %r" % lines)
        seen.add(rc)
        left = probes_left_behind()
    check(not left, "probes left behind: %s" % left)
    check(seen, "no run completed")


def test_bpf_unavailable():
    """Without privileges BPF cannot load: a clear line and exit 7."""
    python = SUPPORTED[1][1]
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              "--inh-caps=-all", "--bounding-set=-all"]
    p = subprocess.Popen(nobody + [python, os.path.join(TARGETS, "idle.py")])
    try:
        time.sleep(0.3)
        start = time.monotonic()
        r = subprocess.run(nobody + [GILWATCH, "watch", "--pid", str(p.pid)],
                           capture_output=True, text=True, timeout=10)
        check(time.monotonic() - start < 2, "too slow")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode == 7, "exit %d, expected 7: %s" % (r.returncode, lines))
        check(len(lines) == 1 and "cannot load BPF programs" in lines[0], repr(lines))
    finally:
        p.kill()
        p.wait()


def main():
    global GILWATCH
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilwatch", required=True)
    ap.add_argument("-k", default="", help="only tests whose name contains this")
    args = ap.parse_args()
    GILWATCH = os.path.abspath(args.gilwatch)
    if os.geteuid() != 0:
        fail_loudly("integration tests need root: they load and attach BPF programs")
    for label, python in SUPPORTED + UNSUPPORTED:
        if not os.access(python, os.X_OK):
            fail_loudly("interpreter %s missing: %s" % (label, python))

    tests = []
    for label, python in SUPPORTED:
        for fn in (test_gc, test_frames, test_contention, test_deep):
            tests.append(("%s %s" % (fn.__name__, label), functools.partial(fn, python, label)))
    tests += [
        ("test_no_such_pid", test_no_such_pid),
        ("test_not_python", test_not_python),
        ("test_exits_while_attaching", test_exits_while_attaching),
        ("test_bpf_unavailable", test_bpf_unavailable),
    ]
    for label, python in UNSUPPORTED:
        tests.append(("test_unsupported " + label, functools.partial(test_unsupported, label,
                                                                       python)))
    tests = [t for t in tests if args.k in t[0]]
    failures = run_tests(tests)
    print("%d tests, %d failed" % (len(tests), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
