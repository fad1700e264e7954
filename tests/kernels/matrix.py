#!/usr/bin/env python3
"""The kernel matrix: gilwatch's real checks on real Debian kernels.

Boots each kernel that fetch.py selects (6.1, 6.12, the newest) under qemu
with TCG (nested KVM guests crash here) through virtme-ng, with this
machine's root filesystem shared read-only, and runs guest_checks.py in it.
A guest gets a timeout; one that hangs, crashes or leaves no result fails.
Prints a summary, writes build/kernels/matrix.json, exits 1 if any kernel
failed any check. See README.md.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import fetch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOP = os.path.join(ROOT, "build", "kernels")
VENV = os.path.join(TOP, "venv")
VIRTME_NG = "virtme-ng==1.42"
TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
         "depmod": "kmod", "dpkg-deb": "dpkg", "file": "file"}


def fail(msg):
    print("FAIL  " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def ensure_virtme_ng():
    """virtme-ng, pinned, in its own venv; reinstalled if the pin changed."""
    stamp = os.path.join(VENV, "installed")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == VIRTME_NG:
                return
    shutil.rmtree(VENV, ignore_errors=True)
    for cmd in ([sys.executable, "-m", "venv", VENV],
                [os.path.join(VENV, "bin", "pip"), "install", "-q", VIRTME_NG]):
        if subprocess.run(cmd).returncode != 0:
            fail("could not install %s: %s" % (VIRTME_NG, " ".join(cmd)))
    with open(stamp, "w") as f:
        f.write(VIRTME_NG)


def boot(kernel, gilwatch, timeout):
    """One guest: returns its record for matrix.json."""
    out = os.path.join(TOP, "results", kernel["release"])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    guest = [sys.executable, os.path.join(HERE, "guest_checks.py"), "--gilwatch", gilwatch,
             "--out", out]
    # --verbose: the guest's console, where its output goes too (no udev on
    # this machine names virtme's script ports: virtme-ng falls back to it).
    # --force-9p: qemu's own virtiofsd fails here, after seconds of retries.
    cmd = [os.path.join(VENV, "bin", "vng"), "--run", kernel["vmlinuz"], "--disable-kvm",
           "--force-9p", "--cpus", "1", "--memory", "2G", "--verbose", "--rwdir", out,
           "--exec", shlex.join(guest)]
    env = dict(os.environ, PATH=os.path.join(VENV, "bin") + ":" + os.environ["PATH"])
    record = {k: kernel[k] for k in ("label", "suite", "release", "version", "packages")}
    print("== kernel %s (%s, Debian %s)" % (kernel["release"], kernel["suite"], kernel["version"]),
          flush=True)
    start, booted = time.monotonic(), None
    with open(os.path.join(out, "console.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", env=env,
                                start_new_session=True, cwd=ROOT)
        timer = _Killer(proc, timeout)
        for line in proc.stdout:
            log.write(line)
            if booted is None and line.startswith("uname -r: "):
                booted = time.monotonic() - start
            if not line.startswith("["):  # the guest's lines, not the kernel's
                print("  " + line.rstrip(), flush=True)
        proc.wait()
        timer.cancel()
    record["boot_s"] = round(booted, 1) if booted is not None else None
    record["total_s"] = round(time.monotonic() - start, 1)
    result_path = os.path.join(out, "result.json")
    if timer.fired:
        record["error"] = "timed out after %d s (console: %s)" % (timeout, log.name)
    elif not os.path.exists(result_path):
        record["error"] = "the guest left no result (console: %s)" % log.name
    else:
        with open(result_path) as f:
            record.update(json.load(f))
        if record["uname"] != kernel["release"]:
            record["error"] = "the guest ran %s" % record["uname"]
    record["ok"] = "error" not in record and all(c["ok"] for c in record["checks"])
    return record


class _Killer:
    """Kills a guest's whole process group (vng, virtme-run, qemu) at a deadline."""

    def __init__(self, proc, timeout):
        self.fired = False
        self.proc = proc
        self.timer = threading.Timer(timeout, self._kill)
        self.timer.start()

    def _kill(self):
        self.fired = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended meanwhile

    def cancel(self):
        self.timer.cancel()


def summary(records):
    print("\n== kernel matrix")
    for r in records:
        checks = " ".join("%s:%s" % (c["name"], "PASS" if c["ok"] else "FAIL")
                          for c in r.get("checks", []))
        print("%-4s %-22s boot %5s s, total %5.1f s  %s%s" % (
            "ok" if r["ok"] else "FAIL", r["release"], r["boot_s"], r["total_s"], checks,
            "  " + r["error"] if "error" in r else ""))
        for line in r.get("budget") or []:
            print("       " + line)
        for c in r.get("checks", []):
            if not c["ok"]:
                print("       %s: %s" % (c["name"], c["detail"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilwatch", default=os.path.join(ROOT, "build", "gilwatch"))
    ap.add_argument("--refresh", action="store_true",
                    help="select each suite's newest kernel again (downloads a new one)")
    ap.add_argument("--timeout", type=int, default=240, help="seconds per guest")
    ap.add_argument("--only", choices=[s[0] for s in fetch.SUITES],
                    help="only the kernel with this label")
    args = ap.parse_args()
    if os.geteuid() != 0:
        fail("the kernel matrix needs root: the guests load BPF programs as this user")
    missing = [pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if missing:
        fail("missing tools; apt-get install " + " ".join(missing))
    gilwatch = os.path.abspath(args.gilwatch)
    if not os.access(gilwatch, os.X_OK):
        fail("no %s: make all first" % gilwatch)
    ensure_virtme_ng()
    try:
        kernels = fetch.kernels(TOP, args.refresh)
    except fetch.FetchError as e:
        fail("kernel fetch: %s" % e)
    start = time.monotonic()
    records = [boot(k, gilwatch, args.timeout) for k in kernels
               if args.only in (None, k["label"])]
    summary(records)
    failed = [r["release"] for r in records if not r["ok"]]
    with open(os.path.join(TOP, "matrix.json"), "w") as f:
        json.dump({"ok": not failed, "seconds": round(time.monotonic() - start, 1),
                   "kernels": records}, f, indent=1)
    print("%d kernels, %d failed%s; %.0f s; build/kernels/matrix.json" % (
        len(records), len(failed), ": " + ", ".join(failed) if failed else "",
        time.monotonic() - start))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
