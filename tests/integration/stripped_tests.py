"""Stripped builds: a `strip --strip-all` copy of a pyenv libpython, loaded
through LD_LIBRARY_PATH (LD_LIBRARY_PATH comes before the interpreter's
RUNPATH), must give the same events and verdicts as the original, with its
static functions recovered from the code of their exported callers.

The checks are run.py's own, on a Watch whose target maps the copy.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile

import run
from harness import Watch, check, events_of, pyenv_python, pyenv_root


@contextlib.contextmanager
def stripped_libpython(version):
    """A directory holding a stripped copy of version's libpython; yields
    (python, env for the target, path of the copy)."""
    tmp = tempfile.mkdtemp(prefix="gilwatch-stripped-")
    name = "libpython%s.so.1.0" % version[:version.rindex(".")]
    copy = os.path.join(tmp, name)
    try:
        subprocess.run(["strip", "--strip-all", "-o", copy,
                        os.path.join(pyenv_root(), "versions", version, "lib", name)], check=True)
        yield pyenv_python(version), dict(os.environ, LD_LIBRARY_PATH=tmp), copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def run_on(gilwatch, env, copy):
    """run.py's tests with their targets on the copy; yields the list that
    gets each run's attach record, after checking that the copy is mapped."""
    attaches = []

    class StrippedWatch(Watch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, env=env, **kwargs)

        def _start(self):
            super()._start()
            attach = self.events[0]
            check(attach["python_path"] == copy,
                  "the target maps %s, not the stripped copy" % attach["python_path"])
            attaches.append(attach)

    saved = run.Watch, run.GILWATCH
    run.Watch, run.GILWATCH = StrippedWatch, os.path.abspath(gilwatch)
    try:
        yield attaches
    finally:
        run.Watch, run.GILWATCH = saved


def check_methods(attach, **methods):
    probes = attach["probes"]
    for probe, method in methods.items():
        check(probes[probe].get("method") == method,
              "%s: %s, expected via %s" % (probe, probes[probe], method))


def test_frames_313(python):
    """3.13 no longer exports _PyThread_CurrentExceptions: stripped, it is
    said to be missing; _current_frames() is traced as before."""
    events, _, _ = run.watch(python, "current_frames.py")
    apis = [e["api"] for e in events_of(events, "frames")]
    check(apis.count("current_frames") == 100 and "current_exceptions" not in apis,
          "frames events %s" % {a: apis.count(a) for a in set(apis)})
    probes = events[0]["probes"]
    check(probes["current_frames"].get("method") == "dynsym", "%s" % probes["current_frames"])
    check(probes["current_exceptions"].get("unavailable") ==
          "_PyThread_CurrentExceptions not found (stripped)", "%s" % probes["current_exceptions"])


def test_stripped_same_events(gilwatch, version):
    """GC events, frame collections, GIL waits and --deep hold times, as
    run.py asserts them for the original build (3.13: see test_frames_313)."""
    label = version[:version.rindex(".")]
    with stripped_libpython(version) as (python, env, copy), \
            run_on(gilwatch, env, copy) as attaches:
        run.test_gc(python, label)
        check_methods(attaches[-1], gc="disasm")
        if label >= "3.13":
            test_frames_313(python)
        else:
            run.test_frames(python, label)
            check_methods(attaches[-1], current_frames="dynsym", current_exceptions="dynsym",
                          current_frames_head_lock="dynsym",
                          current_exceptions_head_lock="dynsym")
        run.test_contention(python, label)
        check_methods(attaches[-1], gil_wait="sampling")
        run.test_deep(python, label)
        check_methods(attaches[-1], gc="disasm", take_gil="disasm", drop_gil="disasm",
                      gil_wait="libc")


def test_stripped_same_verdict(gilwatch):
    """3.11.7: the beam-like freeze is the same deadlock (GIL/HEAD_LOCK, same
    roles, same stacks: take_gil and gc_collect_main named from their
    recovered ranges), and `dump` tells the same story."""
    with stripped_libpython("3.11.7") as (python, env, copy), \
            run_on(gilwatch, env, copy) as attaches:
        run.test_beam_freeze(python, "3.11")
        check_methods(attaches[-1], gc="disasm")
