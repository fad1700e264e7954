"""Debian kernels for the kernel matrix, fetched without touching the
machine's apt configuration.

Each suite's kernel is the candidate of its `linux-image-amd64` metapackage
(the generic flavour: -cloud has no 9p) in a private apt state under
build/kernels/apt/<suite>/: the newest kernel of that suite, chosen the same
way on every machine. Its packages (the image, plus on newer suites the
linux-binary-*/linux-modules-*/linux-base-* packages it depends on) are
extracted with dpkg-deb into build/kernels/<release>/ and depmod'ed there.
The choice is kept in build/kernels/selection.json: while every kernel it
names is extracted, nothing is downloaded (--refresh selects again).
"""
import json
import os
import re
import shutil
import subprocess

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# (label, suite, its extra suites): the oldest supported kernel (6.1 LTS),
# 6.12 LTS and the newest released one (unstable; experimental has only
# release candidates).
SUITES = [
    ("6.1", "bookworm", [(MIRROR, "bookworm-updates"), (SECURITY, "bookworm-security")]),
    ("6.12", "trixie", [(MIRROR, "trixie-updates"), (SECURITY, "trixie-security")]),
    ("newest", "sid", []),
]


class FetchError(Exception):
    pass


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise FetchError("%s exited %d: %s" % (" ".join(cmd[:2]), out.returncode,
                                               (out.stderr or out.stdout).strip()[-2000:]))
    return out.stdout


class Apt:
    """apt-get/apt-cache on one suite's private sources, lists and cache."""

    def __init__(self, top, suite, extra):
        self.dir = os.path.join(os.path.abspath(top), "apt", suite)  # apt: relative to Dir
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.sources = os.path.join(self.dir, "sources.list")
        with open(self.sources, "w") as f:
            for uri, s in [(MIRROR, suite), *extra]:
                f.write("deb [signed-by=%s] %s %s main\n" % (KEYRING, uri, s))
        self.opts = []
        for k, v in [("Dir::Etc::SourceList", self.sources), ("Dir::Etc::SourceParts", "/dev/null"),
                     ("Dir::Etc::Preferences", "/dev/null"),
                     ("Dir::Etc::PreferencesParts", "/dev/null"),
                     ("Dir::State::Lists", os.path.join(self.dir, "lists")),
                     ("Dir::Cache", os.path.join(self.dir, "cache")),
                     ("Acquire::Languages", "none"), ("APT::Sandbox::User", "root")]:
            self.opts += ["-o", "%s=%s" % (k, v)]

    def get(self, *args, cwd=None):
        return run(["apt-get", "-q", *self.opts, *args], cwd=cwd)

    def cache(self, *args):
        return run(["apt-cache", *self.opts, *args])

    def candidate(self, package):
        m = re.search(r"Candidate: (\S+)", self.cache("policy", package))
        if not m or m.group(1) == "(none)":
            raise FetchError("no candidate for %s in %s" % (package, self.sources))
        return m.group(1)

    def depends(self, package, version):
        fields = self.cache("show", "%s=%s" % (package, version))
        m = re.search(r"^Depends: (.*)$", fields, re.M)
        return [re.split(r"[ (]", d.strip(), 1)[0] for d in m.group(1).split(",")] if m else []


def select(top, label, suite, extra):
    """The newest generic kernel of a suite: its release and packages."""
    apt = Apt(top, suite, extra)
    apt.get("update")
    meta = apt.candidate("linux-image-amd64")
    images = [d for d in apt.depends("linux-image-amd64", meta)
              if re.fullmatch(r"linux-image-.*-amd64", d) and "-cloud-" not in d]
    if len(images) != 1:
        raise FetchError("%s: linux-image-amd64 %s depends on %s" % (suite, meta, images))
    release = images[0][len("linux-image-"):]
    version = apt.candidate(images[0])
    # Newer suites split the image: linux-binary-R (vmlinuz), linux-modules-R...
    parts = [d for d in apt.depends(images[0], version) if d.endswith("-" + release)]
    return {"label": label, "suite": suite, "release": release, "version": version,
            "packages": [images[0], *parts]}


def extract(top, kernel):
    """Downloads and extracts one kernel into top/<release>/ (atomically)."""
    label, suite = kernel["label"], kernel["suite"]
    apt = Apt(top, suite, next(e for lb, s, e in SUITES if s == suite))
    tmp = os.path.join(top, kernel["release"] + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    debs = os.path.join(tmp, "debs")
    os.makedirs(debs)
    print("kernel %s: downloading %s %s" % (label, " ".join(kernel["packages"]),
                                            kernel["version"]), flush=True)
    apt.get("download", *["%s=%s" % (p, kernel["version"]) for p in kernel["packages"]], cwd=debs)
    root = os.path.join(tmp, "root")
    for deb in sorted(os.listdir(debs)):
        run(["dpkg-deb", "-x", os.path.join(debs, deb), root])
    shutil.rmtree(debs)
    base = root if os.path.isdir(os.path.join(root, "lib/modules")) else os.path.join(root, "usr")
    run(["depmod", "-b", base, kernel["release"]])
    os.rename(root, os.path.join(top, kernel["release"]))
    os.rmdir(tmp)


def kernel_paths(top, kernel):
    """(vmlinuz, modules dir) of an extracted kernel: the image is in /boot, or
    (newer packages) in the modules dir."""
    root = os.path.join(top, kernel["release"])
    for mods in ("lib/modules", "usr/lib/modules"):
        mods = os.path.join(root, mods, kernel["release"])
        for image in (os.path.join(root, "boot", "vmlinuz-" + kernel["release"]),
                      os.path.join(mods, "vmlinuz")):
            if os.path.isdir(mods) and os.path.isfile(image):
                return image, mods
    raise FetchError("%s: no vmlinuz or modules in %s" % (kernel["label"], root))


def kernels(top, refresh=False):
    """The selected kernels, each extracted; raises FetchError on any failure."""
    path = os.path.join(top, "selection.json")
    chosen = None
    if not refresh and os.path.exists(path):
        with open(path) as f:
            chosen = json.load(f)
        if [k["label"] for k in chosen] != [s[0] for s in SUITES] or not all(
                os.path.isdir(os.path.join(top, k["release"])) for k in chosen):
            chosen = None
    if chosen is None:
        chosen = [select(top, *s) for s in SUITES]
        for k in chosen:
            if not os.path.isdir(os.path.join(top, k["release"])):
                extract(top, k)
        with open(path + ".tmp", "w") as f:
            json.dump(chosen, f, indent=1)
        os.rename(path + ".tmp", path)
    for k in chosen:
        k["vmlinuz"], k["modules"] = kernel_paths(top, k)
    return chosen
