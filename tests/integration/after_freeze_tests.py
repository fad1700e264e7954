"""Processes that froze before gilwatch came: the user is paged after the
freeze. Each reproducer runs without gilwatch until it is frozen; then
`dump`, `watch` and the agent each come to it and must give the deadlock,
with "basis": "snapshot" (docs/verdicts.md), and nothing on the builds and
states that cannot be deadlocked this way.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from agent_tests import Agent, series, wait_for
from harness import TARGETS, Failure, check, functions, pyenv_python
from stripped_tests import stripped_libpython

THRESHOLD_S = 2.0  # --deadlock-after default
FREEZE_WITHIN = 20
FREEZE_ATTEMPTS = 3


def syscalls(pid):
    """{tid: where it waits (number, sp, pc), or "running"}; None if gone."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                l = f.read().split()
            out[tid] = tuple(l[:1] + l[-2:]) if l and l[0] != "running" else "running"
    except OSError:
        return None
    return out


def frozen_over(looks):
    """The same threads, each always asleep at the same place. GIL waiters
    poll (at the 1 us switch interval of the reproducers): they may be
    caught running, if seen asleep too; the others never run."""
    if not looks or any(l is None or l.keys() != looks[0].keys() for l in looks):
        return False
    never_ran = 0
    for tid in looks[0]:
        asleep = {l[tid] for l in looks if l[tid] != "running"}
        never_ran += all(l[tid] != "running" for l in looks)
        if len(asleep) != 1:
            return False
    return never_ran > 0


class Frozen:
    """A reproducer started without gilwatch and left until every thread has
    stayed in the same system call for a second."""

    def __init__(self, python, script, api="frames", env=None):
        env = dict(env or os.environ, GW_TEST_API=api)
        for _ in range(FREEZE_ATTEMPTS):
            self.dir = tempfile.mkdtemp(prefix="gilwatch-frozen-")
            go, self.facts_path = os.path.join(self.dir, "go"), os.path.join(self.dir, "facts")
            open(go, "w").close()
            self.proc = subprocess.Popen(
                [python, os.path.join(TARGETS, script), go, self.facts_path, "x", "300"],
                stdout=subprocess.DEVNULL, start_new_session=True, env=env)
            self.pid = self.proc.pid
            if self._wait_frozen():
                with open(self.facts_path) as f:
                    self.facts = json.load(f)
                return
            self.close()
        raise Failure("%s (%s) did not freeze in %d attempts of %d s" %
                      (script, api, FREEZE_ATTEMPTS, FREEZE_WITHIN))

    def _wait_frozen(self):
        deadline, looks = time.monotonic() + FREEZE_WITHIN, []
        while time.monotonic() < deadline and self.proc.poll() is None:
            looks = looks[-9:] + [syscalls(self.pid)]
            if len(looks) == 10 and os.path.exists(self.facts_path) and frozen_over(looks):
                return True
            time.sleep(0.1)
        return False

    def close(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def dump_verdict(gilwatch, pid, *args):
    """`dump --json`: (the deadlock record or None, the dump record)."""
    out = subprocess.run([gilwatch, "dump", "--pid", str(pid), "--json", *args],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "dump exited %d: %s" % (out.returncode, out.stderr.strip()))
    records = [json.loads(l) for l in out.stdout.splitlines()]
    check(records and records[-1]["event"] == "dump", "no dump record: %s" % out.stdout[:300])
    check(len(records) <= 2 and all(r["event"] == "deadlock" for r in records[:-1]),
          "dump printed %s" % [r["event"] for r in records])
    return (records[0] if len(records) == 2 else None), records[-1]


def watch_verdict(gilwatch, pid, within):
    """`watch --json` attached to a frozen pid: (deadlock or None, attach)."""
    w = subprocess.Popen([gilwatch, "watch", "--pid", str(pid), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found, attach, deadline = None, None, time.monotonic() + within
    try:
        for line in w.stdout:
            ev = json.loads(line)
            if ev["event"] == "attach":
                attach = ev
            if ev["event"] == "deadlock" or time.monotonic() > deadline:
                found = ev if ev["event"] == "deadlock" else None
                break
        w.send_signal(signal.SIGINT)
        try:
            _, err = w.communicate(timeout=5)  # drained: a full pipe would block it
        except subprocess.TimeoutExpired:
            raise Failure("watch did not exit within 5 s of SIGINT")
        check(w.returncode == 0, "watch exited %d: %s" % (w.returncode, err))
        check(attach is not None, "no attach record")
        return found, attach
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()


def check_snapshot_deadlock(dl, scenario, facts, label):
    check(dl is not None, "%s: no deadlock reported" % scenario)
    check(dl["basis"] == "snapshot", "%s: basis %s" % (scenario, dl["basis"]))
    members = {t["tid"]: t for t in dl["threads"]}
    if scenario.startswith("self"):
        check(dl["cycle"] == ["HEAD_LOCK"] and list(members) == [facts["tid"]],
              "%s: cycle %s threads %s" % (scenario, dl["cycle"], list(members)))
        holder = members[facts["tid"]]
    else:
        check(sorted(dl["cycle"]) == ["GIL", "HEAD_LOCK"], "%s: cycle %s" % (scenario, dl["cycle"]))
        holder = members.get(facts["status_tid"])
        check(holder and holder["waits_for"] == "GIL" and holder["holds"] == ["HEAD_LOCK"],
              "%s: the status thread %s" % (scenario, holder))
        check(holder["known_from"]["holder"] == "gil-state", "%s: %s" % (scenario, holder))
        other = [t for t in dl["threads"] if t["tid"] != facts["status_tid"]]
        check(len(other) == 1 and other[0]["holds"] == ["GIL"] and
              other[0]["waits_for"] == "HEAD_LOCK", "%s: the other thread %s" % (scenario, other))
        holder = other[0]
    # The edge into HEAD_LOCK's holder rests on a native stack.
    check(holder["known_from"]["holder"] == "native-stack", "%s: %s" % (scenario, holder))
    check(dl["frozen_ns"] >= THRESHOLD_S * 1e9 * 0.99, "%s: frozen_ns %d" % (scenario, dl["frozen_ns"]))


def check_dump(gilwatch, frozen, scenario, label):
    start = time.monotonic()
    dl, record = dump_verdict(gilwatch, frozen.pid)
    took = time.monotonic() - start
    check_snapshot_deadlock(dl, scenario, frozen.facts, label)
    # Confirmed by a second look, the threshold later, and no slower.
    check(THRESHOLD_S <= took <= THRESHOLD_S + 3, "dump took %.2f s" % took)
    threads = {t["tid"]: t for t in record["threads"]}
    holder_tid = frozen.facts.get("status_tid", frozen.facts.get("tid"))
    check("HEAD_LOCK" in threads[holder_tid]["holds"], "dump: %s" % threads[holder_tid])
    api = "_PyThread_CurrentExceptions" if "exceptions" in scenario else "_PyThread_CurrentFrames"
    check("holds HEAD_LOCK (in %s)" % api in threads[holder_tid]["state"],
          "dump state: %s" % threads[holder_tid]["state"])
    check(api in functions(threads[holder_tid]["native_stack"]),
          "dump native stack %s" % functions(threads[holder_tid]["native_stack"]))
    # --no-native stops no thread and still names HEAD_LOCK's holder.
    dl, record = dump_verdict(gilwatch, frozen.pid, "--no-native")
    check_snapshot_deadlock(dl, scenario + " --no-native", frozen.facts, label)
    check(all(not t["native_stack"] for t in record["threads"]), "--no-native printed native")


def check_watch(gilwatch, frozen, scenario, label):
    dl, attach = watch_verdict(gilwatch, frozen.pid, THRESHOLD_S + 5)
    check_snapshot_deadlock(dl, scenario, frozen.facts, label)
    # Within the threshold plus a second of attaching.
    late = (dl["time_ns"] - attach["time_ns"]) / 1e9
    check(late <= THRESHOLD_S + 1.0, "%s: watch reported %.2f s after attaching" % (scenario, late))


def check_agent(gilwatch, frozens, label):
    tmp = tempfile.mkdtemp(prefix="gilwatch-agent-frozen-")
    agent = Agent(gilwatch, tmp)
    try:
        for scenario, f in frozens:
            dl = wait_for("the agent's deadlock for %s" % scenario, lambda: next(
                (e for e in agent.events() if e["event"] == "deadlock" and e["pid"] == f.pid),
                None), THRESHOLD_S + 8)
            check_snapshot_deadlock(dl, scenario, f.facts, label)
            # The scrape is refreshed every --interval.
            def counted():
                count = series(agent.metrics(), "gilwatch_deadlocks_total")
                mine = [v for k, v in count.items() if 'pid="%d"' % f.pid in k]
                check(mine in ([0.0], [1.0]), "%s: gilwatch_deadlocks_total %s" % (scenario, mine))
                return mine == [1.0]
            wait_for("gilwatch_deadlocks_total 1 for %s" % scenario, counted, 3)
        agent.stop()
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


SCENARIOS = {
    "beam frames": ("beam_like_freeze.py", "frames"),
    "self frames": ("self_deadlock.py", "frames"),
    "beam exceptions": ("beam_like_freeze.py", "exceptions"),
    "self exceptions": ("self_deadlock.py", "exceptions"),
}


def test_after_freeze(gilwatch, label, python, scenarios, env=None):
    """Each scenario frozen first; then dump, watch and the agent."""
    with contextlib.ExitStack() as stack:
        frozens = []
        for scenario in scenarios:
            script, api = SCENARIOS[scenario]
            f = Frozen(python, script, api, env=env)
            stack.callback(f.close)
            frozens.append((scenario, f))
        for scenario, f in frozens:
            check_dump(gilwatch, f, scenario, label)
            check_watch(gilwatch, f, scenario, label)
        check_agent(gilwatch, frozens, label)


def test_after_freeze_stripped(gilwatch, version, scenarios):
    """A `strip --strip-all` copy of libpython: HEAD_LOCK's holder from the
    exported frame-collection functions' calls."""
    with stripped_libpython(version) as (python, env, _):
        test_after_freeze(gilwatch, version + "-stripped", python, scenarios, env=env)
        test_rlock_cycle_after_freeze(gilwatch, version + "-stripped", python, env=env)


def check_rlock_deadlock(dl, facts, what):
    """ABBA over two RLocks: each edge's holder read from the lock object."""
    check(dl is not None, "%s: no deadlock reported" % what)
    check(dl["basis"] == "snapshot", "%s: basis %s" % (what, dl["basis"]))
    members = {t["tid"]: t for t in dl["threads"]}
    check(sorted(members) == sorted([facts["first"], facts["second"]]),
          "%s: threads %s, not %s" % (what, sorted(members), facts))
    first, second = members[facts["first"]], members[facts["second"]]
    check(first["waits_for"] == second["holds"][0] and second["waits_for"] == first["holds"][0]
          and first["waits_for"] != second["waits_for"], "%s: %s" % (what, dl["threads"]))
    for t in dl["threads"]:
        check(t["known_from"]["holder"] == "lock-object", "%s: %s" % (what, t))
    check(dl["frozen_ns"] >= THRESHOLD_S * 1e9 * 0.99, "%s: frozen_ns %d" % (what, dl["frozen_ns"]))


def test_rlock_cycle_after_freeze(gilwatch, label, python, env=None):
    """Two threads frozen in `with` over two threading.RLocks in opposite
    order before gilwatch came: the owners are in the lock objects, so dump,
    watch and the agent give the deadlock. The same over threading.Locks,
    which keep no owner, is no deadlock from a snapshot (docs/verdicts.md)."""
    with contextlib.ExitStack() as stack:
        rlocks = Frozen(python, "abba.py", "rlock", env=env)
        stack.callback(rlocks.close)
        locks = Frozen(python, "abba.py", "lock", env=env)
        stack.callback(locks.close)
        dl, _ = dump_verdict(gilwatch, rlocks.pid)
        check_rlock_deadlock(dl, rlocks.facts, "dump")
        dl, _ = dump_verdict(gilwatch, rlocks.pid, "--no-native")
        check_rlock_deadlock(dl, rlocks.facts, "dump --no-native")
        dl, attach = watch_verdict(gilwatch, rlocks.pid, THRESHOLD_S + 5)
        check_rlock_deadlock(dl, rlocks.facts, "watch")
        late = (dl["time_ns"] - attach["time_ns"]) / 1e9
        check(late <= THRESHOLD_S + 1.0, "watch reported %.2f s after attaching" % late)
        dl, _ = dump_verdict(gilwatch, locks.pid)
        check(dl is None, "threading.Lock: dump found %s" % (dl and dl["description"]))
        tmp = tempfile.mkdtemp(prefix="gilwatch-agent-rlock-")
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        agent = Agent(gilwatch, tmp)
        try:
            dl = wait_for("the agent's deadlock", lambda: next(
                (e for e in agent.events() if e["event"] == "deadlock" and e["pid"] == rlocks.pid),
                None), THRESHOLD_S + 8)
            check_rlock_deadlock(dl, rlocks.facts, "agent")
            agent.stop()
        finally:
            if agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait()


class Running:
    """A target started without gilwatch, given a second to get going."""

    def __init__(self, python, script, *args, api="frames"):
        self.dir = tempfile.mkdtemp(prefix="gilwatch-running-")
        go, facts = os.path.join(self.dir, "go"), os.path.join(self.dir, "facts")
        open(go, "w").close()
        self.proc = subprocess.Popen([python, os.path.join(TARGETS, script), go, facts, *args],
                                     stdout=subprocess.DEVNULL, start_new_session=True,
                                     env=dict(os.environ, GW_TEST_API=api))
        self.pid = self.proc.pid
        time.sleep(1)
        check(self.proc.poll() is None, "%s exited early" % script)

    def close(self):
        Frozen.close(self)


def check_no_deadlock(gilwatch, pid, what):
    dl, _ = dump_verdict(gilwatch, pid)
    check(dl is None, "%s: dump found a deadlock: %s" % (what, dl and dl["description"]))
    dl, _ = watch_verdict(gilwatch, pid, THRESHOLD_S + 3)
    check(dl is None, "%s: watch found a deadlock: %s" % (what, dl and dl["description"]))


def test_no_false_alarm_after_start(gilwatch, label, python):
    """gilwatch coming to processes that are slow or idle, not stuck; on
    3.12+ the freezing reproducers themselves (they cannot freeze)."""
    cases = [("slow_not_stuck.py", "frames", ("12",))]
    if label >= "3.12":
        cases += [("beam_like_freeze.py", api, ("x", "12")) for api in ("frames", "exceptions")]
        cases += [("self_deadlock.py", "frames", ())]
    for script, api, args in cases:
        r = Running(python, script, *args, api=api)
        try:
            check_no_deadlock(gilwatch, r.pid, "%s (%s)" % (script, api))
        finally:
            r.close()


def test_stopped_is_not_deadlocked(gilwatch, label, python):
    """A process stopped with SIGSTOP (or held by a debugger) waits for
    nothing: no deadlock, whatever its threads were doing."""
    r = Running(python, "beam_like_freeze.py", "gc-off", "30")
    try:
        os.kill(r.pid, signal.SIGSTOP)
        time.sleep(0.5)
        check_no_deadlock(gilwatch, r.pid, "SIGSTOP")
    finally:
        os.kill(r.pid, signal.SIGCONT)
        r.close()


def test_fork_pool_after_hang(gilwatch, zarr_python):
    """zarr 3.0.1's ZipStore through a fork-start ProcessPoolExecutor, hung
    before gilwatch came: the workers are found, each fork is a hazard told
    after the fact (zarr's I/O thread among the threads lost), each worker's
    stall names the parent's workers; dump shows the whole tree."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-zarr-")
    go, facts = os.path.join(tmp, "go"), os.path.join(tmp, "facts")
    open(go, "w").close()
    parent = subprocess.Popen([zarr_python, os.path.join(TARGETS, "zarr_zipstore.py"), go, facts,
                               "fork", "120"], stdout=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for("the pool's workers to hang", lambda: os.path.exists(facts) and len(
            children_of(parent.pid)) == 2, 30)
        time.sleep(2)
        workers = set(children_of(parent.pid))
        # dump: the parent, then each worker, forked without exec.
        out = subprocess.run([gilwatch, "dump", "--pid", str(parent.pid), "--json"],
                             capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, "dump: %s" % out.stderr)
        records = [json.loads(l) for l in out.stdout.splitlines()]
        dumps = {r["pid"]: r for r in records if r["event"] == "dump"}
        check(set(dumps) == workers | {parent.pid}, "dumped %s" % sorted(dumps))
        check(set(dumps[parent.pid]["children"]) == workers, "%s" % dumps[parent.pid]["children"])
        for w in workers:
            f = dumps[w].get("forked_from", {})
            check(f.get("pid") == parent.pid and f.get("inferred") and f.get("lost_threads"),
                  "worker %d forked_from %s" % (w, f))
        out = subprocess.run([gilwatch, "dump", "--pid", str(parent.pid), "--json",
                              "--no-children"], capture_output=True, text=True, timeout=30)
        check([json.loads(l)["pid"] for l in out.stdout.splitlines()] == [parent.pid],
              "--no-children dumped %s" % out.stdout[:200])
        # watch: the hazards told after the fact, then the workers' stalls.
        w = subprocess.Popen([gilwatch, "watch", "--pid", str(parent.pid), "--json",
                              "--stall-after", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            out, err = w.communicate(timeout=6)
        except subprocess.TimeoutExpired:
            w.send_signal(signal.SIGINT)
            out, err = w.communicate(timeout=5)
        events = [json.loads(l) for l in out.splitlines()]
        hazards = [e for e in events if e["event"] == "hazard"]
        check({h["child_pid"] for h in hazards} == workers and
              all(h.get("inferred") and h["threads_at_fork"] >= 2 for h in hazards),
              "hazards %s" % [(h["child_pid"], h.get("inferred")) for h in hazards])
        stalls = [e for e in events if e["event"] == "stall"]
        check({s["pid"] for s in stalls} == workers, "stalls in %s" % [s["pid"] for s in stalls])
        for s in stalls:
            check(set(s["parent"]["workers"]) == workers, "parent %s" % s["parent"]["workers"])
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids
