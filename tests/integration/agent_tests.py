"""The agent: every CPython process of the machine, exported for Prometheus.

A live scrape of the agent watching real workloads must pass `promtool check
metrics`; a real Prometheus server scrapes it on loopback and PromQL returns
the workloads' own GC counts; every metric the dashboard and the alert rules
use exists in that scrape; a process that exits drops its series.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import TARGETS, Failure, check, debian_sid, probes_left_behind, pyenv_python

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "dashboards", "gilwatch.json")
RULES = os.path.join(ROOT, "dashboards", "gilwatch-alerts.yml")
RULE_TESTS = os.path.join(ROOT, "dashboards", "gilwatch-alerts.test.yml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, method="GET", timeout=5):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def wait_for(what, fn, within):
    deadline = time.monotonic() + within
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for %s" % what)
        time.sleep(0.2)


def series(text, name):
    """{labels-string: value} of one metric in a scrape."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


class Agent:
    """Output goes to files: a pipe nobody drains would block the agent.
    launcher: a command prefix that ends by exec'ing its arguments."""
    def __init__(self, gilwatch, tmp, *args, launcher=()):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.out = open(os.path.join(tmp, "agent.out"), "w+")
        self.err = open(os.path.join(tmp, "agent.err"), "w+")
        self.proc = subprocess.Popen(
            [*launcher, gilwatch, "agent", "--listen", "127.0.0.1:%d" % self.port, "--interval", "1", *args],
            stdout=self.out, stderr=self.err)
        wait_for("the agent to listen", self.healthy, 10)

    @staticmethod
    def _read(f):
        f.seek(0)
        return f.read()

    def healthy(self):
        if self.proc.poll() is not None:
            raise Failure("agent exited %d: %s" % (self.proc.returncode, self._read(self.err)))
        try:
            return http_get(self.base + "/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    def metrics(self):
        status, ctype, body = http_get(self.base + "/metrics")
        check(status == 200, "/metrics: %d %s" % (status, body[:200]))
        check(ctype.startswith("text/plain; version=0.0.4"), "content type %s" % ctype)
        return body

    def events(self):
        status, _, body = http_get(self.base + "/events")
        check(status == 200, "/events: %d" % status)
        return json.loads(body)

    def attach_record(self, pid):
        return next((e for e in self.events() if e["event"] == "attach" and e["pid"] == pid),
                    None)

    def watching(self, pid):
        return self.attach_record(pid) is not None

    def stop(self):
        """SIGINT: must detach and exit 0 within 5 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("agent did not exit within 5 s of SIGINT")
        out, err = self._read(self.out), self._read(self.err)
        check(self.proc.returncode == 0, "agent exited %d: %s" % (self.proc.returncode, err))
        return out, err


class Workload:
    """agent_workload.py; launcher (a command prefix that ends by exec'ing
    its arguments) runs it elsewhere, e.g. in a container; extra arguments
    mark its command line."""
    def __init__(self, python, tmp, name, launcher=(), extra=(), script="agent_workload.py"):
        self.go = os.path.join(tmp, name + ".go")
        self.facts = os.path.join(tmp, name + ".json")
        self.started_ns = time.time_ns()
        self.proc = subprocess.Popen(
            [*launcher, python, os.path.join(TARGETS, script), self.go, self.facts,
             *extra], stdout=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid

    def ready(self):
        return os.path.exists(self.go + ".ready")

    def result(self):
        if not os.path.exists(self.facts):
            return None
        with open(self.facts) as f:
            return json.load(f)

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def cleanup(agent, loads, tmp):
    """The end of every agent test, passed or not: nothing left running."""
    if agent:
        agent.proc.kill()
        agent.proc.wait()
    for w in loads:
        if w:
            w.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def gc_value(text, pid, generation):
    return next((v for k, v in series(text, "gilwatch_gc_collections_total").items()
                 if 'pid="%d"' % pid in k and 'generation="%d"' % generation in k), None)


def run_and_compare_gc(agent, loads):
    """Go, then the exported collections since go must equal what CPython
    counted: startup collections before go are left out of both. Returns
    the workloads' results and the last scrape."""
    for w in loads:
        wait_for("workload %d ready" % w.pid, w.ready, 10)
    time.sleep(1.2)  # a /metrics rendering after the last startup collection
    before = agent.metrics()
    for w in loads:
        open(w.go, "w").close()
    results = {w.pid: wait_for("workload %d" % w.pid, w.result, 30) for w in loads}
    time.sleep(1.5)  # the next rendering of /metrics
    text = agent.metrics()
    for pid, r in results.items():
        for gen in range(3):
            got = (gc_value(text, pid, gen) or 0) - (gc_value(before, pid, gen) or 0)
            check(gc_value(text, pid, gen) is not None and got == r["collections"][gen],
                  "pid %d gen%d: exported %s since go, CPython says %d"
                  % (pid, gen, got, r["collections"][gen]))
    return results, text


def metric_names_used():
    """Every gilwatch_* metric the dashboard and the alert rules query."""
    names = set()
    for path in (DASHBOARD, RULES):
        with open(path) as f:
            names |= set(re.findall(r"\b(gilwatch_[a-z_]+)", f.read()))
    return names


def check_names_exist(text, names):
    present = set(re.findall(r"^(gilwatch_[a-z_]+)", text, re.M))
    for name in names:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in present or base in present,
              "%s is used by the dashboard or rules but not exported" % name)


def prometheus_query(base, query):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    status, _, body = http_get(url)
    check(status == 200, "query %s: %d %s" % (query, status, body[:200]))
    return json.loads(body)["data"]["result"]


def run_prometheus(tmp, agent_port):
    port = free_port()
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: gilwatch\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % agent_port)
    log = open(os.path.join(tmp, "prometheus.log"), "w+")  # never a pipe nobody drains
    proc = subprocess.Popen(
        ["prometheus", "--config.file", config, "--storage.tsdb.path", os.path.join(tmp, "db"),
         "--web.listen-address", "127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=log)
    base = "http://127.0.0.1:%d" % port

    def ready():
        if proc.poll() is not None:
            log.seek(0)
            raise Failure("prometheus exited %d: %s" % (proc.returncode, log.read()[-500:]))
        try:
            return http_get(base + "/-/ready", timeout=1)[0] == 200
        except OSError:
            return False
    try:
        wait_for("Prometheus to be ready", ready, 30)
    except Failure:
        proc.kill()
        proc.wait()
        raise
    return proc, base


def test_agent(gilwatch):
    """Two CPython versions watched at once; metrics checked by promtool and
    through a real Prometheus; the exited process's series disappear."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-agent-")
    loads = [Workload(pyenv_python("3.12.1"), tmp, "a"), Workload("/usr/bin/python3.11", tmp, "b")]
    agent = prom = None
    try:
        agent = Agent(gilwatch, tmp)
        for w in loads:
            wait_for("the agent to attach to %d" % w.pid, lambda: agent.watching(w.pid), 10)
        results, text = run_and_compare_gc(agent, loads)
        out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                             text=True)
        check(out.returncode == 0, "promtool check metrics: %s%s" % (out.stdout, out.stderr))
        check_names_exist(text, metric_names_used())
        check(series(text, "gilwatch_processes_watched")[""] >= 2, "processes_watched")
        check(any('probe="gc",method="usdt"' in k for k in series(text, "gilwatch_probe_attached")),
              "no gc probe by USDT for Debian's python3.11")
        prom, prom_base = run_prometheus(tmp, agent.port)
        pid = loads[0].pid
        # The workload is idle now: its count, checked against CPython above.
        want = gc_value(text, pid, 2)
        query = 'gilwatch_gc_collections_total{pid="%d",generation="2"}' % pid
        got = wait_for("Prometheus to scrape the agent", lambda: prometheus_query(
            prom_base, query), 30)
        check(float(got[0]["value"][1]) == want and want >= results[pid]["collections"][2],
              "PromQL %s = %s, the agent said %s" % (query, got[0]["value"][1], want))
        # An exited process drops its series.
        loads[0].kill()
        wait_for("pid %d's series to go" % pid,
                 lambda: 'pid="%d"' % pid not in agent.metrics(), 10)
        check('pid="%d"' % loads[1].pid in agent.metrics(), "the other process went too")
        status, _, _ = http_get(agent.base + "/nope")
        check(status == 404, "/nope: %d" % status)
        status, _, _ = http_get(agent.base + "/metrics", method="POST")
        check(status == 405, "POST /metrics: %d" % status)
        out, err = agent.stop()
        agent = None
        check("watching 2 CPython processes" in out or "watching 3 CPython processes" in out,
              "no terminal summary: %r" % out[-500:])
        left = probes_left_behind()
        check(not left, "probes left behind: %s" % left)
    finally:
        if prom:
            prom.terminate()
            prom.wait()
        cleanup(agent, loads, tmp)


def test_agent_debian_unstable(gilwatch):
    """Debian unstable's 3.13, 3.14 and 3.15, each in a mount namespace and
    root of its own (and one embedded through libpython3.14.so): found,
    attached, every collection per generation counted as CPython counts."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-agent-sid-")
    loads = [Workload(debian_sid(p), tmp, p) for p in
             ("python3.13", "python3.14", "python3.15", "embed-python3.14")]
    agent = None
    try:
        agent = Agent(gilwatch, tmp)
        for w in loads:
            wait_for("the agent to attach to %d" % w.pid, lambda: agent.watching(w.pid), 10)
        _, text = run_and_compare_gc(agent, loads)
        versions = {k for k in series(text, "gilwatch_gc_collections_total")
                    if any('pid="%d"' % w.pid in k for w in loads)}
        for minor in ("3.13", "3.14", "3.15"):
            check(any('python_version="%s.' % minor in k for k in versions),
                  "no %s series: %s" % (minor, sorted(versions)[:3]))
        agent.stop()
        agent = None
    finally:
        cleanup(agent, loads, tmp)


def test_agent_bad_listen(gilwatch):
    for listen, code in (("nonsense", 2), ("127.0.0.1:99999", 2), ("300.1.1.1:80", 2)):
        p = subprocess.run([gilwatch, "agent", "--listen", listen], capture_output=True,
                           text=True, timeout=10)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        check(p.returncode == code and len(lines) == 1 and "cannot listen" in lines[0],
              "--listen %s: exit %d, %r" % (listen, p.returncode, lines))


def test_alert_rules():
    """promtool check rules and the rules' unit tests."""
    for args in (["check", "rules", RULES], ["test", "rules", RULE_TESTS]):
        out = subprocess.run(["promtool", *args], capture_output=True, text=True)
        check(out.returncode == 0, "promtool %s: %s%s" % (" ".join(args), out.stdout,
                                                          out.stderr))


def test_dashboard():
    """Grafana conventions: a datasource variable, a stable uid, units on
    every panel, $__rate_interval in every rate()."""
    with open(DASHBOARD) as f:
        d = json.load(f)
    check(d.get("uid") == "gilwatch-overview", "uid %s" % d.get("uid"))
    check("__inputs" not in d, "dashboard has __inputs")
    variables = {v["name"]: v for v in d["templating"]["list"]}
    check(variables.get("datasource", {}).get("type") == "datasource", "no datasource variable")
    panels = [p for p in d["panels"] if p["type"] != "row"]
    check(len(panels) >= 8, "only %d panels" % len(panels))
    for p in panels:
        check(p["datasource"]["uid"] == "${datasource}", "panel %s datasource" % p["title"])
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        check(unit, "panel %s has no unit" % p["title"])
        for t in p["targets"]:
            for fn in re.findall(r"(?:rate|increase)\([^\[]*\[([^\]]*)\]", t["expr"]):
                check(fn == "$__rate_interval", "panel %s: %s" % (p["title"], t["expr"]))
