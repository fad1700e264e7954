"""Least privilege (issue 8): the agent with the capabilities the DaemonSet
grants and no others does its whole job; without CAP_SYS_ADMIN, which
uprobes need again since Linux commit ba677dbe77af (2025), it says so
(run.py's test_bpf_unavailable: with none at all, one line and exit 7).
`watch` gives up CAP_SYS_ADMIN and all it no longer uses once attached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

from agent_tests import Agent, Workload, cleanup, http_get, run_and_compare_gc, series, wait_for
from deploy_tests import dig, load_docs, one
from harness import TARGETS, Failure, check, probes_left_behind, pyenv_root

PY312 = os.path.join(pyenv_root(), "versions", "3.12.1", "bin", "python3.12")
# Bit numbers, linux/capability.h.
CAP_BITS = {"DAC_READ_SEARCH": 2, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "PERFMON": 38, "BPF": 39}


def daemonset_caps():
    """What deploy/daemonset.yaml adds; it must drop all the others."""
    ds = one(load_docs(), "DaemonSet")
    container = dig(ds, "spec", "template", "spec", "containers")[0]
    caps = dig(container, "securityContext", "capabilities")
    check(caps.get("drop") == ["ALL"], "the DaemonSet drops %s, not ALL" % caps.get("drop"))
    return caps["add"]


def with_caps(caps):
    return ("setpriv", "--inh-caps=-all",
            "--bounding-set=-all," + ",".join("+" + c.lower() for c in caps))


def effective_caps(pid):
    with open("/proc/%d/status" % pid) as f:
        line = next(l for l in f if l.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_agent_least_privilege(gilwatch):
    """Root with only the DaemonSet's capabilities: processes found,
    attached and counted exactly, like the fully privileged agent."""
    caps = daemonset_caps()
    check(set(caps) <= set(CAP_BITS), "a capability this test does not know: %s" % caps)
    tmp = tempfile.mkdtemp(prefix="gilwatch-caps-")
    agent, w = None, None
    try:
        agent = Agent(gilwatch, tmp, launcher=with_caps(caps))
        want = sum(1 << CAP_BITS[c] for c in caps)
        check(effective_caps(agent.proc.pid) == want,
              "agent runs with %#x, expected %#x" % (effective_caps(agent.proc.pid), want))
        w = Workload(PY312, tmp, "caps")
        wait_for("the agent to watch %d" % w.pid, lambda: agent.watching(w.pid), 10)
        _, text = run_and_compare_gc(agent, [w])
        check(series(text, "gilwatch_attach_failures_total").get("", 0) == 0,
              "attach failures with the DaemonSet's capabilities")
    finally:
        cleanup(agent, [w], tmp)


def test_agent_without_sys_admin(gilwatch):
    """The DaemonSet's capabilities but CAP_SYS_ADMIN: the agent runs, each
    process fails to attach, counted, with a line that names the cause."""
    caps = [c for c in daemonset_caps() if c != "SYS_ADMIN"]
    tmp = tempfile.mkdtemp(prefix="gilwatch-nosysadmin-")
    agent, w = None, None
    try:
        agent = Agent(gilwatch, tmp, launcher=with_caps(caps))
        w = Workload(PY312, tmp, "nosysadmin")

        def failed():
            status, _, body = http_get(agent.base + "/metrics")  # 503 until rendered
            return status == 200 and series(body, "gilwatch_attach_failures_total")[""] >= 1
        wait_for("the attach failure counted", failed, 10)
        # Its own failure, not only another process's (the test runner's).
        line = "pid %d (python3.12): cannot attach: Permission denied (uprobes need " \
               "CAP_SYS_ADMIN" % w.pid
        try:
            wait_for("the workload's attach failure", lambda: line in Agent._read(agent.err), 10)
        except Failure:
            raise Failure("stderr: %r" % Agent._read(agent.err)[-500:])
        check(not agent.watching(w.pid), "attached without CAP_SYS_ADMIN")
    finally:
        cleanup(agent, [w], tmp)


def test_watch_drops_capabilities(gilwatch):
    """`watch` gives up CAP_SYS_ADMIN and every capability but those it
    still uses (target memory and files, BPF stacks) once attached, reports
    on (each collection made after the drop counted), and detaches
    cleanly."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-watchcaps-")
    go = os.path.join(tmp, "go")
    target = subprocess.Popen([PY312, os.path.join(TARGETS, "steady_gc.py"), go, go + ".facts",
                               "2"])
    watch = None
    try:
        wait_for("target ready", lambda: os.path.exists(go + ".ready"), 10)
        watch = subprocess.Popen([gilwatch, "watch", "--pid", str(target.pid), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        attach = json.loads(watch.stdout.readline())
        check(attach["event"] == "attach", "first record %s" % attach)
        want = sum(1 << CAP_BITS[c] for c in ("SYS_PTRACE", "DAC_READ_SEARCH", "BPF", "PERFMON"))
        # Dropped right after the attach record is written.
        deadline = time.monotonic() + 2
        while effective_caps(watch.pid) != want and time.monotonic() < deadline:
            time.sleep(0.01)
        check(effective_caps(watch.pid) == want,
              "watch runs with %#x after attaching, expected %#x" % (
                  effective_caps(watch.pid), want))
        open(go, "w").close()
        made = wait_for("the target's report", lambda: os.path.exists(go + ".facts") and
                        json.load(open(go + ".facts")), 15)["collections"]
        target.wait(timeout=10)
        out, err = watch.communicate(timeout=20)
        gcs = sum(1 for line in out.splitlines() if '"event":"gc"' in line)
        check(gcs >= made, "%d collections after the drop, %d gc records" % (made, gcs))
        check(watch.returncode in (0, 6), "watch exit %d: %s" % (watch.returncode, err))
        left = probes_left_behind()
        check(not left, "probes left behind: %s" % left)
    finally:
        for p in (target, watch):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
