#!/usr/bin/env python3
"""CPython builds as Debian ships them, in a root of their own.

Debian's newest suite (unstable) carries CPython 3.13, 3.14 and 3.15 as
binary packages: a static, stripped `python3.X` with USDT probes, the
symbol-keeping `python3.Xd` of `python3.X-dbg`, the shared `libpython3.X.so`
for embedders, and each build's internal headers (`python3.X-dev`).
debootstrap installs them into build/debian-sid/root from the mirror this
machine's apt already uses (read from its sources, never named here). The
root is made once: while root/.gilwatch-ready names every package wanted,
nothing is fetched again (--refresh makes it anew).

`run` starts a program of the root in a mount namespace of its own (a
container in all but name: its own /, /proc, /dev), with /tmp and the
repository bound at their own paths so that the tests' scripts and
hand-off files are where the tests expect them. The pid the caller gets is
the program's own: unshare and chroot exec, they do not fork.
"""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP = os.path.join(REPO, "build", "debian-sid")
ROOT = os.path.join(TOP, "root")
READY = os.path.join(ROOT, ".gilwatch-ready")
SUITE = "sid"
VERSIONS = ("3.13", "3.14", "3.15")
PACKAGES = [p % v for v in VERSIONS for p in ("python%s", "python%s-dev", "libpython%s")] + \
    ["python3.14-dbg", "python3.15-dbg"]
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class SetupError(Exception):
    pass


def apt_mirror():
    """The first Debian archive URI of this machine's apt sources."""
    uris = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            uris += re.findall(r"^URIs:\s*(\S+)", f.read(), re.M)
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path) as f:
                uris += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", f.read(), re.M)
    uris = [u for u in uris if "security" not in u]
    if not uris:
        raise SetupError("no Debian mirror in /etc/apt/sources.list{,.d}")
    return uris[0]


def ready():
    try:
        with open(READY) as f:
            have = json.load(f)
    except (OSError, ValueError):
        return False
    return all(p in have for p in PACKAGES)


def installed_versions():
    out = subprocess.run(["chroot", ROOT, "dpkg-query", "-W", "-f", "${Package}\t${Version}\n",
                          *PACKAGES],
                         capture_output=True, text=True, check=True).stdout
    return dict(l.split("\t", 1) for l in out.splitlines())


def make_root(refresh=False):
    """debootstraps the root unless it is ready; returns its packages."""
    if ready() and not refresh:
        with open(READY) as f:
            return json.load(f)
    if not shutil.which("debootstrap"):
        raise SetupError("debootstrap missing (apt-get install debootstrap)")
    tmp = ROOT + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(TOP, exist_ok=True)
    print("debian-sid: debootstrap %s with %s" % (SUITE, " ".join(PACKAGES)), flush=True)
    out = subprocess.run(["debootstrap", "--variant=minbase", "--keyring=" + KEYRING,
                          "--include=" + ",".join(PACKAGES), SUITE, tmp, apt_mirror()],
                         capture_output=True, text=True)
    if out.returncode != 0:
        log = os.path.join(tmp, "debootstrap", "debootstrap.log")
        tail = open(log).read()[-1500:] if os.path.exists(log) else out.stderr[-1500:]
        raise SetupError("debootstrap exited %d: %s" % (out.returncode, tail.strip()))
    shutil.rmtree(ROOT, ignore_errors=True)
    os.rename(tmp, ROOT)
    versions = installed_versions()
    with open(READY, "w") as f:
        json.dump(versions, f, indent=1)
    return versions


def link_headers():
    """TOP/include/x86_64-linux-gnu/pythonX.Y: each build's pyconfig.h, for
    compiling against its headers without the root's libc headers."""
    arch = os.path.join(TOP, "include", "x86_64-linux-gnu")
    os.makedirs(arch, exist_ok=True)
    for d in glob.glob(os.path.join(ROOT, "usr/include/x86_64-linux-gnu/python3.*")):
        link = os.path.join(arch, os.path.basename(d))
        if not os.path.islink(link):
            os.symlink(os.path.relpath(d, arch), link)


def command(argv):
    """argv (its program a path inside the root) run in the root, in its own
    mount namespace."""
    binds = " ".join('mkdir -p "$R%s" && mount --rbind "%s" "$R%s" &&' % (d, d, d)
                     for d in ("/dev", "/tmp", REPO))
    script = ('R="%s"; mount --make-rprivate / && %s mount -t proc proc "$R/proc" && '
              'exec chroot "$R" "$@"' % (ROOT, binds))
    return ["unshare", "--mount", "sh", "-c", script, "sh", *argv]


BIN = os.path.join(TOP, "bin")
EMBEDDED = ["3.14", "3.15"]
PROGRAMS = ["python3.13", "python3.14", "python3.14d", "python3.15", "python3.15d"] + \
    ["embed-python" + v for v in EMBEDDED]


def build_embedders():
    """root/usr/local/bin/embed-python3.X: tests/pythons/embed.c linked
    with the root's libpython3.X.so."""
    src = os.path.join(REPO, "tests", "pythons", "embed.c")
    for v in EMBEDDED:
        out = os.path.join(ROOT, "usr", "local", "bin", "embed-python" + v)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        subprocess.run(["cc", "-O2", "-Wall", "-Werror",
                        "-I" + os.path.join(ROOT, "usr", "include", "python" + v),
                        "-I" + os.path.join(TOP, "include"), src,
                        "-L" + os.path.join(ROOT, "usr", "lib", "x86_64-linux-gnu"),
                        # libpython needs the root's libc, not this one: resolved at run time
                        "-Wl,--allow-shlib-undefined", "-lpython" + v, "-o", out], check=True)


def where(prog):
    return "/usr/local/bin/" + prog if prog.startswith("embed-") else "/usr/bin/" + prog


def write_wrappers():
    """TOP/bin/<program>: runs /usr/bin/<program> of the root in its own
    mount namespace, with the caller's arguments and the same pid."""
    os.makedirs(BIN, exist_ok=True)
    for prog in PROGRAMS:
        path = os.path.join(BIN, prog)
        with open(path + ".tmp", "w") as f:
            f.write("#!/bin/sh\n# %s of %s (tests/pythons/debian_root.py)\nexec %s \"$@\"\n"
                    % (prog, ROOT, shlex.join(command([where(prog)]))))
        os.chmod(path + ".tmp", 0o755)
        os.rename(path + ".tmp", path)


def main():
    refresh = "--refresh" in sys.argv
    try:
        versions = make_root(refresh)
        link_headers()
        build_embedders()
        write_wrappers()
    except (SetupError, subprocess.CalledProcessError) as e:
        sys.exit("debian-sid: %s" % e)
    print("debian-sid: %s" % ", ".join("%s %s" % kv for kv in sorted(versions.items())))


if __name__ == "__main__":
    main()
