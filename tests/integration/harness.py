"""Runs gilwatch against real interpreters and collects what it reports."""
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "targets")


def pyenv_root():
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.strip()
    return os.path.expanduser("~/.pyenv")


def pyenv_python(version):
    return os.path.join(pyenv_root(), "versions", version, "bin", "python" + version[:1])


def debian_sid(program):
    """A program of Debian unstable's root (tests/pythons/debian_root.py),
    run in its own mount namespace."""
    return os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "debian-sid", "bin",
                        program)


# Every interpreter the suite must pass on; a missing one fails the suite.
# "-debian": Debian's static, stripped python3.X with USDT probes; "d": its
# -dbg build, symbols kept; "embedded": a program linking libpython3.X.so.
SUPPORTED = [
    ("3.10", pyenv_python("3.10.13")),
    ("3.11", pyenv_python("3.11.7")),
    ("3.12", pyenv_python("3.12.1")),
    ("3.13", pyenv_python("3.13.0")),
    ("3.11-debian", "/usr/bin/python3.11"),
    ("3.13.18-debian", debian_sid("python3.13")),
    ("3.14-debian", debian_sid("python3.14")),
    ("3.14d", debian_sid("python3.14d")),
    ("3.14-embedded", debian_sid("embed-python3.14")),
    ("3.15-debian", debian_sid("python3.15")),
    ("3.15d", debian_sid("python3.15d")),
    ("3.15-embedded", debian_sid("embed-python3.15")),
]
UNSUPPORTED = [
    ("2.7", pyenv_python("2.7.18")),
    ("3.6", pyenv_python("3.6.15")),
]


class Failure(Exception):
    pass


class Gap(Exception):
    """A feature known not to work yet on a build: printed, not counted."""


def known_gap(fn, why):
    """fn must fail (Gap, printed with why); passing fails the suite, so
    that a gap closed is taken off the list."""
    def run():
        try:
            fn()
        except Failure as e:
            raise Gap("%s (%s)" % (why, e))
        raise Failure("passes now, though listed as a known gap: %s" % why)
    return run


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Watch:
    """One `gilwatch watch --json` run against one target script."""

    def __init__(self, gilwatch, python, script, extra_args=(), timeout=30, script_args=(),
                 env=None, gilwatch_env=None):
        self.dir = tempfile.mkdtemp(prefix="gilwatch-test-")
        self.go = os.path.join(self.dir, "go")
        self.facts_path = os.path.join(self.dir, "facts.json")
        self.timeout = timeout
        self.target = subprocess.Popen(
            [python, os.path.join(TARGETS, script), self.go, self.facts_path, *script_args],
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # close() kills its children too
            env=env,  # the target's only (e.g. LD_LIBRARY_PATH)
        )
        self.watch = subprocess.Popen(
            [gilwatch, "watch", "--pid", str(self.target.pid), "--json",
             "--interval", "0.5", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=gilwatch_env,
        )
        self.events = []
        # One reader thread owns stdout: mixing readline() and communicate()
        # loses what the text buffer holds.
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read_lines, daemon=True)
        self.reader.start()

    def _read_lines(self):
        for line in self.watch.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_event(self, deadline):
        """The next event, or None at EOF or the deadline."""
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is None:
            self.lines.put(None)
            return None
        ev = json.loads(line)
        self.events.append(ev)
        return ev

    def _finish(self, wait_s):
        """Waits for gilwatch to exit, collects the rest; returns stderr."""
        try:
            self.watch.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise Failure("gilwatch did not exit within %.0f s" % wait_s)
        self.reader.join(timeout=5)
        while self._read_event(time.monotonic()) is not None:
            pass
        err = self.watch.stderr.read()
        check(self.watch.returncode == 0,
              "gilwatch exited %d: %s" % (self.watch.returncode, err.strip()))
        return err

    def _start(self):
        ev = self._read_event(time.monotonic() + 10)
        if ev is None or ev["event"] != "attach":
            raise Failure("no attach event: %s" % self._stderr_now())
        open(self.go, "w").close()

    def _facts(self):
        if not os.path.exists(self.facts_path):
            return {}
        with open(self.facts_path) as f:
            return json.load(f)

    def run(self):
        """Waits for attach, lets the target go, returns (events, facts, stderr)."""
        try:
            self._start()
            self.target.wait(timeout=self.timeout)
            err = self._finish(10)
            check(self.target.returncode == 0, "target failed (%d)" % self.target.returncode)
            return self.events, self._facts(), err
        finally:
            self.close()

    def run_until(self, kind, within, on_found=None):
        """For targets that never finish: lets the target go, reads events until
        one of `kind` (returned) or `within` seconds (None); on_found(event,
        target pid) runs then, while the target is still in that state. Then
        stops gilwatch with SIGINT, which must detach and exit 0 within 5 s even
        from a frozen target, and kills the target. Returns (event or None,
        events, facts)."""
        try:
            self._start()
            found, deadline = None, time.monotonic() + within
            while found is None and time.monotonic() < deadline:
                ev = self._read_event(deadline)
                if ev is None:
                    break
                if ev["event"] == kind:
                    found = ev
            if found is not None and on_found is not None:
                on_found(found, self.target.pid)
            self.watch.send_signal(signal.SIGINT)
            self.stderr = self._finish(5)
            return found, self.events, self._facts()
        finally:
            self.close()

    def _stderr_now(self):
        if self.watch.poll() is None:
            self.watch.kill()
            self.watch.wait()
        return self.watch.stderr.read().strip()

    def close(self):
        try:
            os.killpg(self.target.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in (self.target, self.watch):
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def dump(gilwatch, pid, *args, timeout=20):
    """`gilwatch dump --json --no-children` of pid: the parsed record, threads
    by tid; the deadlock record `dump` prints first, if any, under
    record["deadlock"]."""
    out = subprocess.run([gilwatch, "dump", "--pid", str(pid), "--json", "--no-children", *args],
                         capture_output=True, text=True, timeout=timeout)
    check(out.returncode == 0, "dump exited %d: %s" % (out.returncode, out.stderr.strip()))
    records = [json.loads(l) for l in out.stdout.splitlines()]
    check([r["event"] for r in records] in (["dump"], ["deadlock", "dump"]),
          "dump printed %s" % [r["event"] for r in records])
    record = records[-1]
    record["deadlock"] = records[0] if len(records) == 2 else None
    return record, {t["tid"]: t for t in record["threads"]}


def marker_line(script, marker):
    """Line number of the line that ends with `# marker` in a target script."""
    with open(os.path.join(TARGETS, script)) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith("# " + marker):
                return n
    raise Failure("no marker %s in %s" % (marker, script))


def functions(stack):
    return [f.get("function", "??") for f in stack]


def task_state(pid, tid):
    """One-letter state of a task from /proc (S, R, t, ...), '' if gone."""
    try:
        with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def events_of(events, kind):
    return [e for e in events if e["event"] == kind]


def summary_of(events):
    s = events_of(events, "summary")
    check(len(s) == 1, "expected one summary, got %d" % len(s))
    return s[0]


def gilwatch_programs():
    """Names of loaded BPF programs that belong to gilwatch."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    check(out.returncode == 0, "bpftool prog show failed: %s" % out.stderr.strip())
    return [p.get("name", "") for p in json.loads(out.stdout or "[]")
            if p.get("name", "").startswith("gw_")]


def probes_left_behind(settle=2.0):
    """gilwatch programs still loaded after `settle` seconds: the kernel frees
    programs of a closed process a little later (RCU), never much later."""
    deadline = time.monotonic() + settle
    while True:
        left = gilwatch_programs()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def run_tests(tests):
    """tests: list of (name, callable). Prints one line each; returns failures."""
    failures = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
            print("ok    %-48s %.1fs" % (name, time.monotonic() - start), flush=True)
        except Gap as e:
            print("gap   %-48s %s" % (name, e), flush=True)
        except Failure as e:
            failures += 1
            print("FAIL  %-48s %s" % (name, e), flush=True)
        except Exception as e:  # a harness bug is a failure too
            failures += 1
            print("FAIL  %-48s %s: %s" % (name, type(e).__name__, e), flush=True)
    return failures


def fail_loudly(msg):
    print("FAIL  " + msg, file=sys.stderr)
    sys.exit(1)
