"""Least privilege (issue 8): the agent with the capabilities the DaemonSet
grants and no others does its whole job; without CAP_SYS_ADMIN, which
uprobes need again since Linux commit ba677dbe77af (2025), it says so
(run.py's test_bpf_unavailable: with none at all, one line and exit 7).
"""
import os
import tempfile

from agent_tests import Agent, Workload, cleanup, http_get, run_and_compare_gc, series, wait_for
from deploy_tests import dig, load_docs, one
from harness import check, pyenv_root

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
        check(not agent.watching(w.pid), "attached without CAP_SYS_ADMIN")
        err = Agent._read(agent.err)
        check("pid %d (python3.12): cannot attach: Permission denied (uprobes need "
              "CAP_SYS_ADMIN" % w.pid in err, "stderr: %r" % err[-500:])
    finally:
        cleanup(agent, [w], tmp)

