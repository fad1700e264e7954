"""The agent's HTTP endpoint under hostile clients: malformed requests get a
4xx or a closed connection, never a crash; many connections and slow
clients cost neither threads nor unbounded memory, and never block the
scrapes of others."""
import socket
import tempfile
import time

from agent_tests import Agent, cleanup, http_get
from harness import check

MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 100,
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x00\xff" * 512 + b"\r\n\r\n",
    b"GET " + b"/" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
]


def status_of(port, raw):
    """The status code the agent answered raw with, 0 if it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # closed while we sent: an answer too
        data = b""
        try:
            while len(data) < 12:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return int(data[9:12]) if data.startswith(b"HTTP/1.") and len(data) >= 12 else 0


def agent_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return int(out["Threads"]), int(out["VmRSS"].split()[0])


def test_http_hostile(gilwatch):
    tmp = tempfile.mkdtemp(prefix="gilwatch-http-")
    agent, socks = None, []
    try:
        # No process watched: the memory measured is the HTTP server's alone
        # (a new session's unwinder would add megabytes meanwhile).
        agent = Agent(gilwatch, tmp, "--quiet", "--match", "^no such process$")
        for raw in MALFORMED:
            code = status_of(agent.port, raw)
            check(code == 0 or 400 <= code < 600, "%r...: answered %d" % (raw[:30], code))
            check(agent.proc.poll() is None, "agent died on %r..." % raw[:30])
        threads, rss_kb = agent_status(agent.proc.pid)
        # A slow client: half a request line, then nothing.
        slow = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
        slow.sendall(b"GET /metr")
        socks.append(slow)
        start = time.monotonic()
        check(http_get(agent.base + "/healthz", timeout=2)[0] == 200, "healthz behind a slow client")
        check(time.monotonic() - start < 1.0, "a slow client delayed others")
        # Many idle connections: over the limits, refused or closed at once.
        for _ in range(300):
            try:
                socks.append(socket.create_connection(("127.0.0.1", agent.port), timeout=1))
            except OSError:
                pass
        time.sleep(0.5)
        threads2, rss2_kb = agent_status(agent.proc.pid)
        check(threads2 == threads, "threads %d -> %d with 300 connections" % (threads, threads2))
        check(rss2_kb - rss_kb < 16 * 1024, "RSS grew %d KiB with 300 connections"
              % (rss2_kb - rss_kb))
        for s in socks:
            s.close()
        socks = []
        ok = False
        deadline = time.monotonic() + 3
        while not ok and time.monotonic() < deadline:
            try:
                ok = http_get(agent.base + "/healthz", timeout=1)[0] == 200
            except OSError:
                time.sleep(0.1)
        check(ok, "healthz not served within 3 s of the connections closing")
        check(agent.proc.poll() is None, "agent died")
        agent.stop()
        agent = None
    finally:
        for s in socks:
            s.close()
        cleanup(agent, [], tmp)
