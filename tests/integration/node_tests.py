"""The agent as a node agent: processes found at exec, in other mount
namespaces and cgroups (container labels), one probe set per binary,
--match/--exclude.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from agent_tests import Agent, Workload, cleanup, gc_value, run_and_compare_gc, series, wait_for
from harness import TARGETS, check, probes_left_behind, pyenv_root

PY312 = os.path.join(pyenv_root(), "versions", "3.12.1")
CONTAINER = os.path.join(TARGETS, "container.sh")
# A pid that moves itself into a cgroup dir it created; kubepods layout.
CGROUP_PODS = "/sys/fs/cgroup/pids/kubepods/burstable"


def perf_links(pid):
    """The agent's uprobes: each is one perf event file descriptor."""
    fd_dir = "/proc/%d/fd" % pid
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:[perf_event]"
        except OSError:
            pass
    return n


def binary_links(attach):
    """Links on the CPython binary itself: entry and return per probe found,
    one at a HEAD_LOCK call site (libc's are per process; sampled waits have
    none)."""
    return sum(1 if name.endswith("_head_lock") else 2
               for name, p in attach["probes"].items()
               if p.get("method") not in (None, "libc", "sampling"))


def test_agent_container(gilwatch):
    """A CPython in its own mount namespace, chrooted, its interpreter at
    another path, in a kubepods cgroup: found at exec (well before the 5 s
    /proc scan), attached through /proc/PID/root, labelled with its pod and
    container; it shares the probe set of the host process running the same
    libpython (one set per inode), and neither count is doubled."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-node-")
    pod, cid = str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex
    agent, loads = None, []
    try:
        agent = Agent(gilwatch, tmp)
        me = os.getpid()
        wait_for("the agent to watch the test runner", lambda: agent.watching(me), 10)
        before = perf_links(agent.proc.pid)
        # A libpython of their own: no other process of the machine shares it.
        lib = os.path.join(tmp, "lib")
        os.mkdir(lib)
        shutil.copy(os.path.join(PY312, "lib", "libpython3.12.so.1.0"), lib)
        env = ("env", "LD_LIBRARY_PATH=" + lib)
        host = Workload(os.path.join(PY312, "bin", "python3.12"), tmp, "host", launcher=env)
        loads.append(host)
        host_attach = wait_for("the host process", lambda: agent.attach_record(host.pid), 10)
        first = perf_links(agent.proc.pid) - before
        time.sleep(0.5)
        box = Workload("/opt/python/bin/python3.12", tmp, "box",
                       launcher=(CONTAINER, pod, cid, PY312, tmp, TARGETS, "--", *env))
        loads.append(box)
        box_attach = wait_for("the container process", lambda: agent.attach_record(box.pid), 10)
        found_s = (box_attach["time_ns"] - box.started_ns) / 1e9
        check(found_s < 2.0, "container process attached %.2f s after its start" % found_s)
        # As /proc/PID/maps shows it from outside: the chroot's directory first.
        for a in (host_attach, box_attach):
            check(a["python_path"].endswith(lib + "/libpython3.12.so.1.0"),
                  "python_path %s: not the copy" % a["python_path"])
        second = perf_links(agent.proc.pid) - before - first
        shared = binary_links(host_attach)
        check(shared > 0 and first - second == shared,
              "first process added %d probes, the second %d: expected %d fewer (the "
              "libpython probes are shared)" % (first, second, shared))
        _, text = run_and_compare_gc(agent, loads)
        labels = [k for k in series(text, "gilwatch_threads") if 'pid="%d"' % box.pid in k]
        check(labels and 'container_id="%s"' % cid in labels[0] and
              'pod_uid="%s"' % pod in labels[0], "container labels: %s" % labels)
        host_labels = [k for k in series(text, "gilwatch_threads")
                       if 'pid="%d"' % host.pid in k]
        check(host_labels and 'container_id=""' in host_labels[0],
              "host labels: %s" % host_labels)
        check(series(text, "gilwatch_binaries_probed")[""] >= 2, "binaries_probed")
    finally:
        cleanup(agent, loads, tmp)
        for d in (os.path.join(CGROUP_PODS, "pod" + pod, cid),
                  os.path.join(CGROUP_PODS, "pod" + pod)):
            try:
                os.rmdir(d)
            except OSError:
                pass


def test_agent_match_exclude(gilwatch):
    """--match selects by command line, --exclude wins over it."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-match-")
    py = os.path.join(PY312, "bin", "python3.12")
    agent, loads = None, []
    try:
        agent = Agent(gilwatch, tmp, "--match", "gw-marker-[0-9]+", "--exclude", "gw-marker-2")
        loads = [Workload(py, tmp, n, extra=("gw-marker-%d" % i,))
                 for i, n in ((1, "one"), (2, "two"))] + [Workload(py, tmp, "plain")]
        wait_for("the matching process", lambda: agent.watching(loads[0].pid), 10)
        time.sleep(1.0)  # exec discovery is long done for the others
        check(not agent.watching(loads[1].pid), "--exclude'd process watched")
        check(not agent.watching(loads[2].pid), "process not matching --match watched")
        check(not agent.watching(os.getpid()), "the test runner watched despite --match")
        out, err = agent.stop()
        agent = None
    finally:
        cleanup(agent, loads, tmp)


def test_agent_shell_becomes_python(gilwatch):
    """A shell the 5 s /proc scan has seen and set aside, which then execs
    Python (same pid, same start time), is watched at its exec."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-exec-")
    agent, w = None, None
    try:
        agent = Agent(gilwatch, tmp)
        w = Workload(os.path.join(PY312, "bin", "python3.12"), tmp, "late",
                     launcher=("bash", "-c", 'sleep 6.5; exec "$@"', "shell"))
        time.sleep(6.5)
        execed_ns = time.time_ns()
        attach = wait_for("the shell turned Python", lambda: agent.attach_record(w.pid), 10)
        found_s = (attach["time_ns"] - execed_ns) / 1e9
        check(found_s < 2.0, "watched %.2f s after its exec" % found_s)
    finally:
        cleanup(agent, [w], tmp)


def test_agent_python_execs_python(gilwatch):
    """A watched Python that execs another Python (same pid) is a new image:
    the agent lets the old one go at the exec (its own probes detached at
    once, its series dropped) and watches the new one, whose collections
    are then counted exactly."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-reexec-")
    agent, w = None, None
    py311 = os.path.join(pyenv_root(), "versions", "3.11.7", "bin", "python3.11")
    try:
        agent = Agent(gilwatch, tmp)
        w = Workload(os.path.join(PY312, "bin", "python3.12"), tmp, "reexec", launcher=(
            py311, "-c", "import os, sys, time; time.sleep(3); os.execv(sys.argv[1], sys.argv[1:])"))
        first = wait_for("the first image watched", lambda: agent.attach_record(w.pid), 10)
        check(first["python_version"].startswith("3.11"), "first attach %s" % first)

        def second():
            return next((e for e in agent.events() if e["event"] == "attach" and
                         e["pid"] == w.pid and e["python_version"].startswith("3.12")), None)
        wait_for("the new image watched", second, 15)
        _, text = run_and_compare_gc(agent, [w])
        versions = {re.search(r'python_version="([^"]*)"', k).group(1)
                    for k in series(text, "gilwatch_gc_collections_total")
                    if 'pid="%d"' % w.pid in k}
        check(versions == {"3.12.1"}, "series of pid %d after its exec: %s" % (w.pid, versions))
    finally:
        cleanup(agent, [w], tmp)


def test_agent_kill9_and_restart(gilwatch):
    """kill -9 of the agent leaves no probe behind and the watched process
    runs on undisturbed; a new agent picks it up again; SIGTERM detaches
    and exits 0."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-restart-")
    agent, w = None, None
    try:
        agent = Agent(gilwatch, tmp)
        w = Workload(os.path.join(PY312, "bin", "python3.12"), tmp, "steady",
                     script="steady_gc.py", extra=("6",))
        wait_for("the agent to watch %d" % w.pid, lambda: agent.watching(w.pid), 10)
        open(w.go, "w").close()
        time.sleep(1.0)
        agent.proc.kill()
        agent.proc.wait()
        agent = None
        left = probes_left_behind()
        check(not left, "probes left behind after kill -9: %s" % left)
        agent = Agent(gilwatch, tmp)
        wait_for("a new agent to watch %d" % w.pid, lambda: agent.watching(w.pid), 10)
        time.sleep(1.5)
        check((gc_value(agent.metrics(), w.pid, 2) or 0) > 0,
              "the new agent counts no collections")
        agent.proc.send_signal(signal.SIGTERM)
        agent.proc.wait(timeout=5)
        check(agent.proc.returncode == 0, "SIGTERM: exit %d" % agent.proc.returncode)
        agent = None
        left = probes_left_behind()
        check(not left, "probes left behind after SIGTERM: %s" % left)
        result = wait_for("the workload to finish", w.result, 15)
        check(w.proc.wait(timeout=5) == 0, "the workload failed")
        # One collection per ~10 ms for 6 s: a stopped or slowed target shows.
        check(result["collections"] > 300, "only %d collections" % result["collections"])
    finally:
        cleanup(agent, [w], tmp)


def test_agent_bad_regex(gilwatch):
    p = subprocess.run([gilwatch, "agent", "--match", "(unclosed"], capture_output=True,
                       text=True, timeout=10)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode == 2 and lines and "invalid regular expression" in lines[0],
          "--match '(unclosed': exit %d, %r" % (p.returncode, lines))
