"""Handshake between a bench workload and bench/bench.py.

argv[1] is the go file: the workload creates GO.ready once it is set up,
waits for GO (the driver creates it once the agent has attached), does its
fixed amount of work, writes its own measurements to argv[2] (FACTS), then
waits for GO.exit so that the driver can read the agent's /metrics while the
process (and so its series) still exists.
"""
import json
import os
import resource
import sys
import time


def ready():
    open(sys.argv[1] + ".ready", "w").close()


def _wait_file(path, timeout, poll):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("workload: timed out waiting for %s" % path)
        time.sleep(poll)


class Measure:
    """The measured phase: wall time and the process's own CPU time (every
    thread: RUSAGE_SELF), from go to the end of the work."""

    def __enter__(self):
        ready()
        _wait_file(sys.argv[1], 120, 0.005)
        self.r0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()
        self.facts = {}
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        self.facts.update(
            wall_s=t1 - self.t0,
            utime_s=r1.ru_utime - self.r0.ru_utime,
            stime_s=r1.ru_stime - self.r0.ru_stime,
            vol_ctx=r1.ru_nvcsw - self.r0.ru_nvcsw,
            invol_ctx=r1.ru_nivcsw - self.r0.ru_nivcsw,
            python=sys.version.split()[0],
        )
        self.facts["cpu_s"] = self.facts["utime_s"] + self.facts["stime_s"]
        tmp = sys.argv[2] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.facts, f)
        os.rename(tmp, sys.argv[2])
        # Stay alive (idle) until the driver has read /metrics.
        _wait_file(sys.argv[1] + ".exit", 600, 0.02)
        return False


def scale():
    return int(sys.argv[3])
