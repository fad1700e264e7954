"""Runs gilwatch against real interpreters and collects what it reports."""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
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


# Every interpreter the suite must pass on; a missing one fails the suite.
SUPPORTED = [
    ("3.10", pyenv_python("3.10.13")),
    ("3.11", pyenv_python("3.11.7")),
    ("3.12", pyenv_python("3.12.1")),
    ("3.13", pyenv_python("3.13.0")),
    ("3.11-debian", "/usr/bin/python3.11"),
]
UNSUPPORTED = [
    ("2.7", pyenv_python("2.7.18")),
    ("3.6", pyenv_python("3.6.15")),
]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Watch:
    """One `gilwatch watch --json` run against one target script."""

    def __init__(self, gilwatch, python, script, extra_args=(), timeout=30):
        self.dir = tempfile.mkdtemp(prefix="gilwatch-test-")
        self.go = os.path.join(self.dir, "go")
        self.facts_path = os.path.join(self.dir, "facts.json")
        self.timeout = timeout
        self.target = subprocess.Popen(
            [python, os.path.join(TARGETS, script), self.go, self.facts_path],
            stdout=subprocess.DEVNULL,
        )
        self.watch = subprocess.Popen(
            [gilwatch, "watch", "--pid", str(self.target.pid), "--json",
             "--interval", "0.5", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events = []

    def _read_event(self, deadline):
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.watch.stdout], [], [], 0.1)
            if ready:
                line = self.watch.stdout.readline()
                if not line:
                    return None
                ev = json.loads(line)
                self.events.append(ev)
                return ev
            if self.watch.poll() is not None:
                return None
        return None

    def run(self):
        """Waits for attach, lets the target go, returns (events, facts, stderr)."""
        try:
            deadline = time.monotonic() + 10
            ev = self._read_event(deadline)
            if ev is None or ev["event"] != "attach":
                raise Failure("no attach event: %s" % self._stderr_now())
            open(self.go, "w").close()
            self.target.wait(timeout=self.timeout)
            out, err = self.watch.communicate(timeout=10)
            for line in out.splitlines():
                self.events.append(json.loads(line))
            check(self.watch.returncode == 0,
                  "gilwatch exited %d: %s" % (self.watch.returncode, err.strip()))
            check(self.target.returncode == 0, "target failed (%d)" % self.target.returncode)
            with open(self.facts_path) as f:
                facts = json.load(f)
            return self.events, facts, err
        finally:
            self.close()

    def _stderr_now(self):
        if self.watch.poll() is None:
            self.watch.kill()
        return self.watch.stderr.read().strip()

    def close(self):
        for p in (self.target, self.watch):
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


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
