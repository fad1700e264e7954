#!/usr/bin/env python3
"""gilwatch overhead benchmark (issue 7): `make bench`, `make bench-smoke`.

Each workload of bench/workloads/ runs bare, under `gilwatch agent` (default
mode) and under `gilwatch agent --deep`, interleaved round by round (bare,
agent, deep, bare, agent, deep, ...), N rounds; the figures are medians of
the per-round ratios to the same round's bare run. Then the agent's cost at
rest with 50 idle Python processes, and how soon the agent reports the
Beam-like 3.11 deadlock. A table goes to stdout, every figure to a JSON file.

Needs root (BPF). Every process started here (agents, workloads) is killed
on the way out, also on errors and Ctrl-C. See bench/README.md.
"""
import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = os.path.join(HERE, "workloads")
FREEZE_SCRIPT = os.path.join(ROOT, "tests", "integration", "targets", "beam_like_freeze.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name, script, (full scale, smoke scale), what it is. The full scales give
# runs of about 2 s or more bare on this machine kind.
WORKLOAD_SPECS = [
    ("stat-1thread", "stat_one.py", (1_000_000, 100_000),
     "(1) GIL churn: 1 thread, os.stat('/') loop (iterations)"),
    ("stat-4threads", "stat_four.py", (100_000, 10_000),
     "(1) GIL churn: 4 threads contending, Python loop + os.stat (iterations per thread)"),
    ("gc-cycles", "gc_cycles.py", (1_000_000, 100_000),
     "(2) GC-heavy: cyclic garbage (iterations)"),
    ("pipeline", "pipeline.py", (40_000, 5_000),
     "(3) service: socketpair feed, queue.Queue hand-offs, pool of 4 (JSON decode, pread), "
     "logging to a file, sys._current_frames() every 1 s (records)"),
]
MODES = ("bare", "agent", "deep")
EVENT_METRICS = ("gilwatch_gc_collections_total", "gilwatch_frame_collection_calls_total",
                 "gilwatch_gil_wait_seconds_count")
RENDER_WAIT = 1.15  # the agent renders /metrics once a second
SETTLE_S = (1.0, 0.2)  # full, smoke: once every workload is watched, before the first goes
IDLE_PROCS = (50, 5)  # full, smoke: an agent takes ~1 s per watched process to stop
IDLE_WINDOW_S = (30.0, 10.0)
# Every process the bench starts has this in its command line (its temporary
# directory): the agent is started with --match on it unless --watch-all.
MARK = "gwbench-"
DEADLOCK_THRESHOLD_S = 2.0  # --deadlock-after default
FREEZE_WITHIN = 15
FREEZE_ATTEMPTS = 3

TARGETS = {
    "pipeline_wall": 1.02,
    "stat_wall": 1.05,
    "idle_cpu_pct": 2.0,
    "idle_rss_mib": 64.0,
    "deadlock_s": DEADLOCK_THRESHOLD_S + 1.0,
}


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pyenv_python(version):
    root = None
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        if out.returncode == 0:
            root = out.stdout.strip()
    root = root or os.path.expanduser("~/.pyenv")
    return os.path.join(root, "versions", version, "bin", "python" + version[:1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, fn, within, poll=0.05):
    deadline = time.monotonic() + within
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (within, what))
        time.sleep(poll)


def series(text, name):
    """[(labels, value)] of one metric in a scrape."""
    return [(m.group(1) or "", float(m.group(2))) for m in
            re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)]


def pid_sum(text, name, pid):
    tag = 'pid="%d"' % pid
    return sum(v for labels, v in series(text, name) if tag in labels)


def scalar(text, name):
    vals = series(text, name)
    return vals[0][1] if vals else 0.0


def proc_cpu_s(pid):
    """utime+stime of a whole process (exited threads included), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def foreign_gilwatch(own):
    """gilwatch processes this driver did not start: their probes fire in
    our workloads too (one probe set per CPython binary, for every process)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own:
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() == "gilwatch":
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Procs:
    """Every process this driver starts, each in a process group of its
    own, killed (the group) on the way out."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def pids(self):
        return {p.pid for p in self.procs}

    def kill(self, p):
        if p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                log("bench: pid %d still exiting" % p.pid)
        if p in self.procs:
            self.procs.remove(p)

    def kill_all(self):
        for p in list(self.procs):
            self.kill(p)


class Agent:
    def __init__(self, procs, args, tmp, deep, name):
        self.procs = procs
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.err_path = os.path.join(tmp, name + ".err")
        self.argv = agent_argv(args, self.port, deep)
        with open(self.err_path, "w") as err:
            self.proc = procs.start(self.argv, stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        wait_for("the agent to listen", self._healthy, 15)

    def _stderr(self):
        try:
            with open(self.err_path) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _healthy(self):
        if self.proc.poll() is not None:
            raise BenchError("agent exited %d: %s" % (self.proc.returncode, self._stderr()))
        try:
            return http_get(self.base + "/healthz", timeout=1).strip() == "ok"
        except (OSError, urllib.error.HTTPError):
            return False

    def _get(self, path, timeout=5):
        """503 until the first rendering of /metrics: retried."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return http_get(self.base + path, timeout)
            except urllib.error.HTTPError as e:
                if e.code != 503 or time.monotonic() > deadline:
                    raise BenchError("agent %s: HTTP %d" % (path, e.code))
            time.sleep(0.1)

    def metrics(self):
        return self._get("/metrics")

    def metrics_after(self, served_at_end, end_t):
        """A rendering of /metrics made after a run ended: one that differs
        from what was served at its end, or any RENDER_WAIT after it."""
        while True:
            text = self.metrics()
            if text != served_at_end or time.monotonic() >= end_t + RENDER_WAIT:
                return text
            time.sleep(0.1)

    def events(self):
        return json.loads(self._get("/events", timeout=10))

    def attached(self, pid):
        return any(e.get("event") == "attach" and e.get("pid") == pid for e in self.events())

    def wait_attached(self, pid, proc=None):
        def ok():
            if proc is not None and proc.poll() is not None:
                raise BenchError("pid %d exited before the agent attached" % pid)
            if self.proc.poll() is not None:
                raise BenchError("agent exited %d: %s" % (self.proc.returncode, self._stderr()))
            return self.attached(pid)
        wait_for("the agent to attach to pid %d" % pid, ok, 30)

    def wait_series(self, pid):
        tag = 'pid="%d"' % pid
        return wait_for("pid %d in /metrics" % pid,
                        lambda: (lambda t: t if tag in t else None)(self.metrics()), 10, 0.1)

    def cpu_s(self):
        return proc_cpu_s(self.pid)

    def hwm_kib(self):
        return proc_status_kib(self.pid, "VmHWM")

    def rss_kib(self):
        return proc_status_kib(self.pid, "VmRSS")

    def stop(self, timeout=180):
        """SIGINT, as an operator would (SIGKILL after `timeout`):
        (exit code, seconds it took)."""
        rc = None
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log("bench: agent %d did not stop within %d s of SIGINT; killed" % (
                    self.pid, timeout))
        else:
            rc = self.proc.returncode
        self.procs.kill(self.proc)
        if rc != 0:
            raise BenchError("agent exited %s on SIGINT: %s" % (rc, self._stderr()))
        return rc, time.monotonic() - t0


def agent_argv(args, port, deep):
    argv = [args.gilwatch, "agent", "--quiet", "--listen", "127.0.0.1:%d" % port]
    if not args.watch_all:
        argv += ["--match", MARK]
    if deep:
        argv.append("--deep")
    return argv


class Runner:
    """One workload process (bench/workloads/sequence.py) running one or
    more workloads in turn, each a Phase with its own handshake."""

    def __init__(self, procs, python, tmp, tag, items):
        self.procs = procs
        base = os.path.join(tmp, tag)
        self.err_path = base + ".err"
        argv = [python, os.path.join(WORKLOADS, "sequence.py"), base + ".go", base + ".facts"]
        for _, script, scale in items:
            argv += [script, str(scale)]
        with open(self.err_path, "w") as err:
            self.proc = procs.start(argv, stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        self.launched = time.monotonic()
        self.phases = [Phase(self, "%s.go.%d" % (base, i), "%s.facts.%d" % (base, i), name,
                             scale, i == len(items) - 1)
                       for i, (name, _, scale) in enumerate(items)]

    def check_alive(self, what):
        if self.proc.poll() is not None:
            with open(self.err_path) as f:
                raise BenchError("workload pid %d exited %d %s: %s" % (
                    self.pid, self.proc.returncode, what, f.read()[-1500:]))

    def wait_exit(self):
        """After its last phase's release: the whole process's rusage."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.procs.kill(self.proc)
                if self.proc.returncode:
                    raise BenchError("workload pid %d exited %d" % (self.pid,
                                                                    self.proc.returncode))
                return {"utime_s": ru.ru_utime, "stime_s": ru.ru_stime,
                        "maxrss_kib": ru.ru_maxrss}
            time.sleep(0.01)
        raise BenchError("workload pid %d did not exit" % self.pid)


class Phase:
    def __init__(self, runner, go, facts, name, scale, last):
        self.runner, self.go, self.facts_path = runner, go, facts
        self.name, self.scale, self.last = name, scale, last
        self.done_t = None

    def wait_ready(self):
        def ok():
            self.runner.check_alive("before %s was ready" % self.name)
            return os.path.exists(self.go + ".ready")
        wait_for("workload %s ready" % self.name, ok, 60, 0.02)

    def start(self):
        open(self.go, "w").close()

    def wait_done(self, timeout=300):
        def ok():
            self.runner.check_alive("during %s" % self.name)
            return os.path.exists(self.facts_path)
        wait_for("workload %s to finish" % self.name, ok, timeout, 0.02)
        self.done_t = time.monotonic()
        with open(self.facts_path) as f:
            return json.load(f)

    def release(self):
        open(self.go + ".exit", "w").close()


def account(rec, pid, before, after):
    """Event rates, drops and the like of one run, from the scrapes around it."""
    wall = rec["wall_s"]
    ev = {m: pid_sum(after, m, pid) - pid_sum(before, m, pid) for m in EVENT_METRICS}
    rec["events"] = ev
    rec["events_per_s"] = sum(ev.values()) / wall
    rec["gil_wait_s"] = (pid_sum(after, "gilwatch_gil_wait_seconds_sum", pid)
                         - pid_sum(before, "gilwatch_gil_wait_seconds_sum", pid))
    for key, metric in (("drops", "gilwatch_events_dropped_total"),
                        ("map_full", "gilwatch_map_full_total")):
        rec[key] = scalar(after, metric) - scalar(before, metric)
    rec["processes_watched"] = scalar(after, "gilwatch_processes_watched")


def run_session(args, procs, tmp, mode, rnd, specs):
    """One mode, one round: every workload in turn, under one agent (or
    none). The session's workload processes all start, and are watched,
    before the first workload goes, and exit after the agent has stopped:
    no watched process exits during a measured run (a watched process's exit
    stalls the agent's event loop while it detaches, ~1 s: bench/README.md).
    Full mode: a process per workload; smoke: one process runs them all."""
    items = [(name, script, scale_of(args, scales)) for name, script, scales, _ in specs]
    groups = [items] if args.smoke else [[it] for it in items]
    agent = None
    runners = []
    results = {}
    try:
        if mode != "bare":
            agent = Agent(procs, args, tmp, mode == "deep", "agent-%s-%d" % (mode, rnd))
        for i, group in enumerate(groups):
            runners.append(Runner(procs, args.python, tmp, "%s-%d-%d" % (mode, rnd, i), group))
        attach_s = {}
        for r in runners:
            r.phases[0].wait_ready()
            if agent:
                agent.wait_attached(r.pid, r.proc)
                attach_s[r.pid] = time.monotonic() - r.launched
        if agent:
            for r in runners:
                agent.wait_series(r.pid)
            time.sleep(SETTLE_S[1] if args.smoke else SETTLE_S[0])
        for r in runners:
            for ph in r.phases:
                ph.wait_ready()
                before = agent.metrics() if agent else None
                foreign = foreign_gilwatch(procs.pids())
                load1 = loadavg()[0]
                a0 = agent.cpu_s() if agent else None
                ph.start()
                facts = ph.wait_done()
                a1 = agent.cpu_s() if agent else None
                rec = dict(facts)
                rec.update(pid=r.pid, scale=ph.scale, foreign_gilwatch=len(foreign), load1=load1)
                if agent:
                    at_end = agent.metrics()
                    rec["attach_s"] = attach_s[r.pid]
                    rec["agent_cpu_s"] = a1 - a0
                    rec["agent_cpu_pct"] = 100.0 * (a1 - a0) / facts["wall_s"]
                    account(rec, r.pid, before, agent.metrics_after(at_end, ph.done_t))
                results[ph.name] = rec
                log("  %-5s round %d %-14s wall %6.3f s  cpu %6.3f s%s" % (
                    mode, rnd, ph.name, facts["wall_s"], facts["cpu_s"],
                    "  agent %.1f%% of a core, %.0f events/s" % (
                        rec["agent_cpu_pct"], rec["events_per_s"]) if agent else ""))
                if not ph.last:
                    ph.release()  # the same process goes on with the next workload
        if agent:
            hwm = agent.hwm_kib()
            rc, stop_s = agent.stop()
            for rec in results.values():
                rec.update(agent_hwm_kib=hwm, agent_exit=rc, agent_stop_s=stop_s)
        for r in runners:
            r.phases[-1].release()
            ru = r.wait_exit()
            for ph in r.phases:
                results[ph.name]["process_rusage"] = ru
    finally:
        if agent:
            procs.kill(agent.proc)
        for r in runners:
            procs.kill(r.proc)
    return results


def scale_of(args, scales):
    return scales[1] if args.smoke else scales[0]


def summarize_workloads(specs, rounds):
    out = {}
    for name, script, scales, desc in specs:
        runs = {m: [r[m][name] for r in rounds] for m in MODES}
        w = {"description": desc, "script": "bench/workloads/" + script,
             "scale": runs["bare"][0]["scale"], "runs": runs}
        for m in MODES:
            w[m] = {"wall_s": median([r["wall_s"] for r in runs[m]]),
                    "cpu_s": median([r["cpu_s"] for r in runs[m]])}
        walls = [r["wall_s"] for r in runs["bare"]]
        w["bare"]["wall_spread"] = (max(walls) - min(walls)) / median(walls)
        for m in ("agent", "deep"):
            wr = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[m], runs["bare"])]
            cr = [a["cpu_s"] / b["cpu_s"] for a, b in zip(runs[m], runs["bare"])]
            w[m].update(
                wall_ratio=median(wr), wall_ratios=wr,
                cpu_ratio=median(cr), cpu_ratios=cr,
                agent_cpu_pct=median([r["agent_cpu_pct"] for r in runs[m]]),
                agent_hwm_mib=max(r["agent_hwm_kib"] for r in runs[m]) / 1024,
                events_per_s=median([r["events_per_s"] for r in runs[m]]),
                events_per_s_by_metric={
                    k: median([r["events"][k] / r["wall_s"] for r in runs[m]])
                    for k in EVENT_METRICS},
                drops=sum(r["drops"] for r in runs[m]),
                map_full=sum(r["map_full"] for r in runs[m]),
                attach_s=median([r["attach_s"] for r in runs[m]]),
                agent_stop_s=median([r["agent_stop_s"] for r in runs[m]]),
            )
        w["runs_with_foreign_gilwatch"] = sum(1 for m in MODES for r in runs[m]
                                              if r["foreign_gilwatch"])
        out[name] = w
    return out


def bench_idle(args, procs, tmp):
    """Idle processes: the agent's CPU and memory at rest."""
    window = IDLE_WINDOW_S[1] if args.smoke else IDLE_WINDOW_S[0]
    nprocs = IDLE_PROCS[1] if args.smoke else IDLE_PROCS[0]
    log("idle: starting %d idle processes" % nprocs)
    idle = []
    agent = None
    try:
        for i in range(nprocs):
            ready = os.path.join(tmp, "idle-%d.ready" % i)
            p = procs.start([args.python, os.path.join(WORKLOADS, "idle.py"), ready],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            idle.append((p, ready))
        for p, ready in idle:
            wait_for("idle process %d" % p.pid,
                     lambda: os.path.exists(ready) or p.poll() is not None, 60)
            if p.poll() is not None:
                raise BenchError("idle process %d exited %d" % (p.pid, p.returncode))
        agent = Agent(procs, args, tmp, False, "agent-idle")
        pids = [p.pid for p, _ in idle]

        def all_watched():
            t = agent.metrics()
            if scalar(t, "gilwatch_processes_watched") < nprocs:
                return None
            return t if all('pid="%d"' % pid in t for pid in pids) else None
        t0 = time.monotonic()
        text = wait_for("all %d idle processes watched" % nprocs, all_watched, 180, 0.2)
        attach_s = time.monotonic() - t0
        time.sleep(1.0)  # past the attach burst
        foreign = foreign_gilwatch(procs.pids())
        load = loadavg()
        c0, m0 = agent.cpu_s(), time.monotonic()
        time.sleep(window)
        c1, m1 = agent.cpu_s(), time.monotonic()
        after = agent.metrics()
        res = {
            "processes": nprocs,
            "python": args.python,
            "window_s": m1 - m0,
            "attach_all_s": attach_s,
            "processes_watched": scalar(after, "gilwatch_processes_watched"),
            "agent_cpu_s": c1 - c0,
            "agent_cpu_pct": 100.0 * (c1 - c0) / (m1 - m0),
            "agent_hwm_mib": agent.hwm_kib() / 1024,
            "agent_rss_mib": agent.rss_kib() / 1024,
            "agent_threads": proc_status_kib(agent.pid, "Threads"),
            "agent_fds": len(os.listdir("/proc/%d/fd" % agent.pid)),
            "drops": scalar(after, "gilwatch_events_dropped_total"),
            "foreign_gilwatch": len(foreign),
            "load": load,
        }
        log("idle: %d watched; agent %.2f%% of a core over %.0f s, VmHWM %.1f MiB; stopping "
            "it" % (res["processes_watched"], res["agent_cpu_pct"], res["window_s"],
                    res["agent_hwm_mib"]))
        res["agent_exit"], res["agent_stop_s"] = agent.stop(timeout=300)
        log("idle: the agent stopped (SIGINT) in %.1f s" % res["agent_stop_s"])
        return res
    finally:
        if agent:
            procs.kill(agent.proc)
        for p, _ in idle:
            procs.kill(p)


def freeze_once(agent, procs, args, tmp, tag):
    """One Beam-like 3.11 freeze under agent: its deadlock report's timing,
    or None if none came within FREEZE_WITHIN."""
    go = os.path.join(tmp, "freeze-%s.go" % tag)
    with open(go + ".err", "w") as err:
        p = procs.start([args.python311, FREEZE_SCRIPT, go, go + ".facts", "gc-on", "60"],
                        stdout=subprocess.DEVNULL, stderr=err)
    found = None
    try:
        agent.wait_attached(p.pid, p)
        open(go, "w").close()
        go_wall = time.time_ns()
        deadline = time.monotonic() + FREEZE_WITHIN
        while time.monotonic() < deadline and p.poll() is None:
            found = next((e for e in agent.events() if e.get("event") == "deadlock"
                          and e.get("pid") == p.pid), None)
            seen_wall = time.time_ns()
            if found:
                break
            time.sleep(0.05)
    finally:
        procs.kill(p)
    if not found:
        return None
    freeze_wall = found["time_ns"] - found["frozen_ns"]
    return {
        "pid": p.pid,
        "cycle": found.get("cycle"),
        "frozen_s": found["frozen_ns"] / 1e9,
        "detection_delay_s": found["frozen_ns"] / 1e9 - DEADLOCK_THRESHOLD_S,
        "seen_after_freeze_s": (seen_wall - freeze_wall) / 1e9,
        "freeze_after_go_s": (freeze_wall - go_wall) / 1e9,
    }


def bench_deadlock(args, procs, tmp, runs):
    """The Beam-like 3.11 freeze under the agent: when the report comes."""
    agent = Agent(procs, args, tmp, False, "agent-deadlock")
    out = []
    try:
        for i in range(runs):
            for attempt in range(FREEZE_ATTEMPTS):
                rec = freeze_once(agent, procs, args, tmp, "%d-%d" % (i, attempt))
                if rec:
                    rec["attempt"] = attempt + 1
                    out.append(rec)
                    log("deadlock: run %d: reported %.3f s after the freeze (seen on /events "
                        "%.3f s after it; froze %.2f s after go)" % (
                            i + 1, rec["frozen_s"], rec["seen_after_freeze_s"],
                            rec["freeze_after_go_s"]))
                    break
                log("deadlock: run %d attempt %d: no report within %d s" % (
                    i + 1, attempt + 1, FREEZE_WITHIN))
            else:
                out.append(None)
        rc, stop_s = agent.stop()
    finally:
        procs.kill(agent.proc)
    got = [r for r in out if r]
    return {
        "python": args.python311,
        "threshold_s": DEADLOCK_THRESHOLD_S,
        "runs": out,
        "reported": len(got),
        "frozen_s_median": median([r["frozen_s"] for r in got]),
        "frozen_s_max": max([r["frozen_s"] for r in got]) if got else None,
        "detection_delay_s_median": median([r["detection_delay_s"] for r in got]),
        "seen_after_freeze_s_median": median([r["seen_after_freeze_s"] for r in got]),
        "seen_after_freeze_s_max": max([r["seen_after_freeze_s"] for r in got]) if got else None,
        "agent_exit": rc,
        "agent_stop_s": stop_s,
    }


def targets(wl, idle, dl):
    t = []
    if "pipeline" in wl:
        v = wl["pipeline"]["agent"]["wall_ratio"]
        t.append(("default mode, (3) pipeline wall", "<= %.2fx" % TARGETS["pipeline_wall"],
                  "%.3fx" % v, v <= TARGETS["pipeline_wall"]))
    for name in ("stat-1thread", "stat-4threads"):
        if name in wl:
            v = wl[name]["agent"]["wall_ratio"]
            t.append(("default mode, (1) %s wall" % name, "<= %.2fx" % TARGETS["stat_wall"],
                      "%.3fx" % v, v <= TARGETS["stat_wall"]))
    if idle:
        t.append(("agent CPU, %d idle processes" % idle["processes"],
                  "<= %.0f%% of a core" % TARGETS["idle_cpu_pct"],
                  "%.2f%%" % idle["agent_cpu_pct"], idle["agent_cpu_pct"] <= TARGETS["idle_cpu_pct"]))
        t.append(("agent peak RSS (VmHWM), %d idle processes" % idle["processes"],
                  "<= %.0f MiB" % TARGETS["idle_rss_mib"],
                  "%.1f MiB" % idle["agent_hwm_mib"], idle["agent_hwm_mib"] <= TARGETS["idle_rss_mib"]))
    if dl:
        ok = (dl["reported"] == len(dl["runs"]) and dl["frozen_s_max"] is not None
              and dl["frozen_s_max"] <= TARGETS["deadlock_s"])
        t.append(("deadlock reported after the freeze (max)",
                  "<= %.0f s (threshold + 1 s)" % TARGETS["deadlock_s"],
                  "%s s (%d/%d reported)" % ("%.3f" % dl["frozen_s_max"] if got_any(dl) else "-",
                                             dl["reported"], len(dl["runs"])), ok))
    return [{"target": a, "goal": b, "measured": c, "status": "PASS" if d else "MISS"}
            for a, b, c, d in t]


def got_any(dl):
    return dl["frozen_s_max"] is not None


def fmt_x(v):
    return "%.3fx" % v if v is not None else "-"


def fmt_f(v, f="%.3f"):
    return f % v if v is not None else "-"


def print_table(res):
    p = print
    p()
    if res["mode"] == "smoke":
        p("SMOKE RUN: it keeps the benchmark working; its figures are not to be judged "
          "(`make bench` is the measurement)")
    p("gilwatch overhead, %s: %d rounds of bare/agent/deep interleaved, medians of per-round "
      "ratios to bare; workloads on CPython %s" % (res["mode"], res["runs_per_mode"],
                                                   res["python"]["workloads"]))
    p("agent = `%s`, deep = the same with --deep" % " ".join(
        ["gilwatch"] + res["agent_argv"][1:]))
    wl = res["workloads"]
    if wl:
        hdr = ("workload", "bare wall", "agent wall", "agent cpu", "deep wall", "deep cpu",
               "agent %core", "deep %core", "agent ev/s", "deep ev/s", "drops a/d",
               "bare spread")
        rows = []
        for name, w in wl.items():
            a, d, b = w["agent"], w["deep"], w["bare"]
            rows.append((name, "%.3f s" % b["wall_s"], fmt_x(a["wall_ratio"]),
                         fmt_x(a["cpu_ratio"]), fmt_x(d["wall_ratio"]), fmt_x(d["cpu_ratio"]),
                         "%.2f%%" % a["agent_cpu_pct"], "%.2f%%" % d["agent_cpu_pct"],
                         "%.0f" % a["events_per_s"], "%.0f" % d["events_per_s"],
                         "%d/%d" % (a["drops"], d["drops"]),
                         "%.1f%%" % (100 * b["wall_spread"])))
        widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
        for r in [hdr] + rows:
            p("  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                        for i, c in enumerate(r)))
        p("  wall, cpu: the workload's wall time and utime+stime (all threads) over its "
          "measured phase, as a ratio to bare; %core: the agent's utime+stime over that phase; "
          "ev/s: gc_collections + frame_collection_calls + gil_wait_seconds_count per second; "
          "drops: events_dropped_total; bare spread: (max-min)/median of the bare walls")
        ws = list(wl.values())
        p("  agent attach (exec to `attach` record) median %s s default, %s s deep; agent stop "
          "(SIGINT to exit) median %s s default, %s s deep" % (
              fmt_f(median([w["agent"]["attach_s"] for w in ws]), "%.2f"),
              fmt_f(median([w["deep"]["attach_s"] for w in ws]), "%.2f"),
              fmt_f(median([w["agent"]["agent_stop_s"] for w in ws]), "%.2f"),
              fmt_f(median([w["deep"]["agent_stop_s"] for w in ws]), "%.2f")))
    idle = res.get("idle")
    if idle:
        p()
        p("at rest: %d idle processes (%s), gilwatch_processes_watched %d: agent %.2f%% of one "
          "core over %.0f s, VmHWM %.1f MiB (VmRSS %.1f MiB, %d fds); all watched %.1f s after "
          "start; SIGINT to exit: %.1f s" % (
              idle["processes"], res["python"]["workloads"], idle["processes_watched"],
              idle["agent_cpu_pct"], idle["window_s"], idle["agent_hwm_mib"],
              idle["agent_rss_mib"], idle["agent_fds"], idle["attach_all_s"],
              idle["agent_stop_s"]))
    dl = res.get("deadlock")
    if dl:
        p("deadlock (%s, beam_like_freeze.py, --deadlock-after %.0f s): reported %d/%d; freeze "
          "to report (frozen_ns) median %s s, max %s s; on /events (50 ms polls) median %s s, "
          "max %s s after the freeze" % (
              res["python"]["deadlock"], dl["threshold_s"], dl["reported"], len(dl["runs"]),
              fmt_f(dl["frozen_s_median"]), fmt_f(dl["frozen_s_max"]),
              fmt_f(dl["seen_after_freeze_s_median"]), fmt_f(dl["seen_after_freeze_s_max"])))
    p()
    p("targets%s:" % (" (smoke: not judged)" if res["mode"] == "smoke" else ""))
    for t in res["targets"]:
        p("  %-4s  %-42s %-27s measured %s" % (t["status"], t["target"], t["goal"],
                                              t["measured"]))
    if wl:
        p("  cost of --deep (no target): " + "; ".join(
            "%s %s wall, %s cpu" % (n, fmt_x(w["deep"]["wall_ratio"]),
                                    fmt_x(w["deep"]["cpu_ratio"])) for n, w in wl.items()))
    ctx = res["context"]
    p()
    p("machine: %d cores, load %s at start, %s at end; another gilwatch ran during %d of %d "
      "workload runs; %.0f s in all" % (
          ctx["cores"], " ".join("%.2f" % x for x in ctx["load_start"]),
          " ".join("%.2f" % x for x in ctx["load_end"]), ctx["runs_with_foreign_gilwatch"],
          ctx["workload_runs"], ctx["elapsed_s"]))
    p("reproduce: %s   (results: %s)" % (res["command"], res["results_file"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gilwatch", default=os.path.join(ROOT, "build", "gilwatch"))
    ap.add_argument("--smoke", action="store_true",
                    help="short run (< 60 s) that keeps the benchmark working; not judged")
    ap.add_argument("--runs", type=int, help="rounds per mode (default 5, smoke 2)")
    ap.add_argument("--python", default=pyenv_python("3.12.1"), help="workloads' interpreter")
    ap.add_argument("--python311", default=pyenv_python("3.11.7"),
                    help="interpreter for the Beam-like freeze (must be 3.10-3.11.11)")
    ap.add_argument("--only", default="",
                    help="comma-separated parts: workload names, idle, deadlock")
    ap.add_argument("--watch-all", action="store_true",
                    help="agent without --match: it watches every CPython process of the "
                         "machine (this driver's and other users' too)")
    ap.add_argument("--out", help="JSON results (default bench/results.json; smoke: "
                                  "build/bench-smoke.json)")
    args = ap.parse_args()
    runs = args.runs or (2 if args.smoke else 5)
    out = args.out or (os.path.join(ROOT, "build", "bench-smoke.json") if args.smoke
                       else os.path.join(HERE, "results.json"))
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF)")
    for path in (args.gilwatch, args.python, args.python311):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is missing" % path)
    only = set(filter(None, args.only.split(",")))
    known = {s[0] for s in WORKLOAD_SPECS} | {"idle", "deadlock"}
    if only - known:
        sys.exit("bench: unknown parts %s (known: %s)" % (sorted(only - known), sorted(known)))
    specs = [s for s in WORKLOAD_SPECS if not only or s[0] in only]
    if args.smoke and not only and runs == 2 and not args.watch_all:
        command = "make bench-smoke"
    elif not args.smoke and not only and runs == 5 and not args.watch_all:
        command = "make bench"
    else:
        command = " ".join(shlex.quote(a) for a in [sys.executable, "bench/bench.py"] +
                           sys.argv[1:])

    # SIGTERM (a CI timeout) unwinds like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix=MARK)
    started = time.monotonic()

    def version(py):
        return subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                              capture_output=True, text=True).stdout.strip()
    res = {
        "mode": "smoke" if args.smoke else "full",
        "command": command,
        "driver_argv": [sys.executable] + sys.argv,
        "runs_per_mode": runs,
        "gilwatch": args.gilwatch,
        "gilwatch_version": subprocess.run([args.gilwatch, "--version"], capture_output=True,
                                           text=True).stdout.strip(),
        "agent_argv": agent_argv(args, 0, False)[:4] + ["127.0.0.1:<free port>"] +
        agent_argv(args, 0, False)[5:],
        "python": {"workloads": version(args.python), "workloads_path": args.python,
                   "deadlock": version(args.python311), "deadlock_path": args.python311},
        "targets_def": TARGETS,
        "context": {"cores": os.cpu_count(), "kernel": platform.release(),
                    "load_start": loadavg(),
                    "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "results_file": os.path.relpath(out, ROOT),
    }
    try:
        rounds = []
        if specs:
            log("bench: %s, %d rounds of %s; workloads on %s" % (
                res["mode"], runs, "/".join(MODES), args.python))
            for rnd in range(1, runs + 1):
                rounds.append({m: run_session(args, procs, tmp, m, rnd, specs) for m in MODES})
        res["workloads"] = summarize_workloads(specs, rounds) if specs else {}
        if not only or "idle" in only:
            res["idle"] = bench_idle(args, procs, tmp)
        if not only or "deadlock" in only:
            res["deadlock"] = bench_deadlock(args, procs, tmp, 1 if args.smoke else runs)
    finally:
        procs.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    res["targets"] = targets(res["workloads"], res.get("idle"), res.get("deadlock"))
    ctx = res["context"]
    ctx["load_end"] = loadavg()
    ctx["elapsed_s"] = time.monotonic() - started
    ctx["workload_runs"] = sum(len(w["runs"][m]) for w in res["workloads"].values()
                               for m in MODES)
    ctx["runs_with_foreign_gilwatch"] = sum(w["runs_with_foreign_gilwatch"]
                                            for w in res["workloads"].values())
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.rename(out + ".tmp", out)
    print_table(res)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit("bench: %s" % e)
    except KeyboardInterrupt:
        sys.exit(130)
