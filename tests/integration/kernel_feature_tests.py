"""Kernels without a feature: a program of an optional feature that does
not load turns the feature off and the rest runs, said once on stderr, in
the `attach` record and in gilwatch_probe_attached; a core program that does
not load stops gilwatch with one line naming the program and the kernel.
The kernel here has everything: GILWATCH_TEST_MISSING_ATTACH makes libbpf
look a program's tracepoint or iterator up under a name no kernel has, a
real load failure (README, Kernels)."""
import os
import platform
import shutil
import subprocess
import tempfile
import time

from agent_tests import Agent, Workload, cleanup, run_and_compare_gc, series, wait_for
from harness import TARGETS, Watch, check, events_of, pyenv_root

PY312 = os.path.join(pyenv_root(), "versions", "3.12.1", "bin", "python3.12")
OPTIONAL = "gw_signal_deliver,gw_sample_waits"


def missing(progs):
    return dict(os.environ, GILWATCH_TEST_MISSING_ATTACH=progs)


def test_optional_features_off(gilwatch):
    """Crash stacks and wait sampling gone: GC still counted exactly."""
    events, facts, err = Watch(gilwatch, PY312, "gc_collect.py",
                               gilwatch_env=missing(OPTIONAL)).run()
    kernel = platform.release()
    for feature, prog in (("crash_stacks", "gw_signal_deliver"),
                          ("wait_sampling", "gw_sample_waits")):
        lines = [l for l in err.splitlines() if l.startswith("gilwatch: %s turned off" % feature)]
        check(len(lines) == 1, "%s: %d lines on stderr: %s" % (feature, len(lines), err))
        check("kernel %s lacks what BPF program %s needs" % (kernel, prog) in lines[0], lines[0])
    probes, features = events[0]["probes"], events[0]["kernel"]
    check(features["release"] == kernel, "attach record: %s" % features)
    check("unavailable" in features["crash_stacks"], "attach record: %s" % features)
    check("unavailable" in features["wait_sampling"], "attach record: %s" % features)
    check(features["return_fixups"].get("method") == "iter", "attach record: %s" % features)
    check("unavailable" in probes["gil_wait"], "gil_wait without sampling: %s" % probes)
    gen2 = [e for e in events_of(events, "gc")
            if e["generation"] == 2 and e["tid"] == facts["tid"]]
    check(len(gen2) >= 50, "%d generation-2 collections, expected >= 50" % len(gen2))


def test_optional_features_off_agent(gilwatch):
    """The agent without them: counts exact, the loss on /metrics."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-features-")
    agent, w = None, None
    try:
        agent = Agent(gilwatch, tmp, launcher=("env", "GILWATCH_TEST_MISSING_ATTACH=" + OPTIONAL))
        w = Workload(PY312, tmp, "features")
        wait_for("the agent to watch %d" % w.pid, lambda: agent.watching(w.pid), 10)
        _, text = run_and_compare_gc(agent, [w])
        attached = series(text, "gilwatch_probe_attached")
        for feature in ("crash_stacks", "wait_sampling"):
            key = '{probe="%s",method="unavailable"}' % feature
            check(attached.get(key, 0) >= 1, "no %s in %s" % (key, attached))
        check(attached.get('{probe="return_fixups",method="iter"}', 0) >= 1, attached)
    finally:
        cleanup(agent, [w], tmp)


def test_core_missing_is_fatal(gilwatch):
    """The thread-exit tracepoint is core: exit 7, one line, within 2 s."""
    p = subprocess.Popen([PY312, os.path.join(TARGETS, "idle.py")])
    try:
        time.sleep(0.3)
        start = time.monotonic()
        r = subprocess.run([gilwatch, "watch", "--pid", str(p.pid)], capture_output=True,
                           text=True, timeout=10, env=missing("gw_exit"))
        check(time.monotonic() - start < 2, "too slow")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode == 7, "exit %d, expected 7: %s" % (r.returncode, lines))
        want = "gilwatch: error: kernel %s lacks what BPF program gw_exit needs" % platform.release()
        check(len(lines) == 1 and lines[0].startswith(want), repr(lines))
    finally:
        p.kill()
        p.wait()
