"""The Kubernetes deployment: deploy/*.yaml and deploy/Dockerfile.

No cluster and no docker daemon: yamllint (strict, deploy/.yamllint) over
the manifests, a structural check of what the DaemonSet must say (hostPID,
least-privilege capabilities, read-only host mounts, resources, probes,
scrape annotations that agree with the --listen port, monitors whose
selectors reach its pods) and of the Dockerfile (multi-stage on Debian 12,
no compiler in the runtime image, the libraries the Makefile links).
Every check is shown to fail: test_manifests feeds the checker broken
copies of the manifests and each must be rejected.

Needs Debian packages python3-yaml and yamllint.
"""
import copy
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

from harness import Failure, check

try:
    import yaml
except ImportError:  # reported by the tests that need it, not at import
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
YAMLLINT_CONFIG = os.path.join(DEPLOY, ".yamllint")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
VERSION_H = os.path.join(ROOT, "user", "lib", "version.h")
MAKEFILE = os.path.join(ROOT, "Makefile")

# Capabilities the agent may have (docs/deploy.md says what each is for) and
# those it cannot work without.
ALLOWED_CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE", "DAC_READ_SEARCH"}
# Uprobes need CAP_SYS_ADMIN again since Linux commit ba677dbe77af (2025,
# stable kernels too): privilege_tests.py runs the agent with this set.
REQUIRED_CAPS = {"BPF", "PERFMON", "SYS_ADMIN"}
# Host paths the agent reads, mounted read-only at the same place.
HOST_MOUNTS = ("/sys/kernel/btf", "/sys/fs/cgroup")
NODE_LABEL_SOURCE = "__meta_kubernetes_pod_node_name"

# What the Makefile links (-lNAME) -> (build package, runtime package). A
# library added to LDLIBS fails test_dockerfile until it is added here and
# to the Dockerfile's two apt-get lines.
LIB_PACKAGES = {
    "bpf": ("libbpf-dev", "libbpf1"),
    "dw": ("libdw-dev", "libdw1"),
    "elf": ("libelf-dev", "libelf1"),
    "z": ("zlib1g-dev", "zlib1g"),
    "capstone": ("libcapstone-dev", "libcapstone4"),
    "lzma": ("liblzma-dev", "liblzma5"),
    "microhttpd": ("libmicrohttpd-dev", "libmicrohttpd12"),
    "pthread": ("libc6-dev", None),  # in libc6 itself
}
BUILD_TOOLS = {"clang", "bpftool", "make", "gcc"}
# Never in the runtime image.
COMPILER_RE = re.compile(r"^(clang|gcc|g\+\+|cpp|cc|llvm|lld|make|build-essential|bpftool|"
                         r"binutils|pkg-config)([-.\d].*)?$|-dev$")


# ---------------------------------------------------------------- helpers

def need_yaml():
    check(yaml is not None, "PyYAML is missing: apt-get install python3-yaml")


def gw_version():
    with open(VERSION_H) as f:
        m = re.search(r'#define\s+GW_VERSION\s+"([^"]+)"', f.read())
    check(m, "%s: no GW_VERSION" % VERSION_H)
    return m.group(1)


def manifest_files():
    files = sorted(glob.glob(os.path.join(DEPLOY, "*.yaml")))
    check(files, "no manifests in %s" % DEPLOY)
    return files


def load_docs():
    """Every document of deploy/*.yaml, in file order."""
    need_yaml()
    docs = []
    for path in manifest_files():
        with open(path) as f:
            try:
                docs += [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                raise Failure("%s: %s" % (os.path.relpath(path, ROOT), e))
    return docs


def of_kind(docs, kind):
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == kind]


def one(docs, kind):
    found = of_kind(docs, kind)
    check(len(found) == 1, "expected exactly one %s in deploy/, found %d" % (kind, len(found)))
    return found[0]


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def quantity(q, what):
    """A Kubernetes quantity as a float (cpu in cores, memory in bytes)."""
    check(isinstance(q, (str, int, float)) and not isinstance(q, bool),
          "%s: not a quantity: %r" % (what, q))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(q))
    check(m, "%s: not a quantity: %r" % (what, q))
    scale = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}[m.group(2)]
    return float(m.group(1)) * scale


def subset(small, big):
    return isinstance(small, dict) and isinstance(big, dict) and \
        all(big.get(k) == v for k, v in small.items())


def match_labels(selector, what):
    """A label selector of matchLabels only, and not empty (that would match
    every pod of the namespace)."""
    check(isinstance(selector, dict), "%s: no selector" % what)
    check(not selector.get("matchExpressions"),
          "%s: matchExpressions: this checker understands matchLabels only" % what)
    labels = selector.get("matchLabels")
    check(isinstance(labels, dict) and labels, "%s: empty selector matches everything" % what)
    return labels


def listen_port(args):
    """The port of the agent's --listen in the container args."""
    check(isinstance(args, list) and all(isinstance(a, str) for a in args),
          "container args must be a list of strings, got %r" % (args,))
    check(args[:1] == ["agent"], "container args must run `agent`, got %r" % (args,))
    value = None
    for i, a in enumerate(args):
        if a == "--listen":
            check(i + 1 < len(args), "--listen without a value")
            value = args[i + 1]
        elif a.startswith("--listen="):
            value = a.split("=", 1)[1]
    check(value is not None, "agent args have no --listen (the default is loopback only)")
    m = re.fullmatch(r"(0\.0\.0\.0|\[::\]):(\d+)", value)
    check(m, "--listen %s: must listen on every address (0.0.0.0:PORT or [::]:PORT) "
             "for Prometheus to reach the pod" % value)
    return int(m.group(2))


# ---------------------------------------------------------------- manifests

def check_manifests(docs):
    """Raise Failure unless the parsed documents of deploy/*.yaml describe
    the agent as docs/deploy.md says."""
    check(all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs),
          "every document needs apiVersion and kind")

    ds = one(docs, "DaemonSet")
    check(ds.get("apiVersion") == "apps/v1", "DaemonSet apiVersion must be apps/v1")
    check(dig(ds, "metadata", "name") == "gilwatch", "the DaemonSet must be named gilwatch")
    ns = dig(ds, "metadata", "namespace")
    check(ns, "the DaemonSet needs a namespace")
    check(any(dig(n, "metadata", "name") == ns for n in of_kind(docs, "Namespace")),
          "namespace %s is not created by any manifest in deploy/" % ns)
    for d in docs:
        if d["kind"] not in ("Namespace",):
            check(dig(d, "metadata", "namespace") == ns,
                  "%s %s must be in namespace %s" % (d["kind"], dig(d, "metadata", "name"), ns))

    spec = ds.get("spec") or {}
    template = spec.get("template") or {}
    pod_labels = dig(template, "metadata", "labels")
    check(isinstance(pod_labels, dict) and pod_labels, "the pod template has no labels")
    check(subset(match_labels(spec.get("selector"), "DaemonSet selector"), pod_labels),
          "the DaemonSet selector does not match its own pod labels")
    check(dig(spec, "updateStrategy", "type") == "RollingUpdate",
          "updateStrategy must be RollingUpdate")

    pod = template.get("spec") or {}
    check(pod.get("hostPID") is True, "hostPID must be true: the agent watches the node's processes")
    check(pod.get("hostNetwork") is not True, "hostNetwork is not needed: metrics go to the pod IP")
    sa = pod.get("serviceAccountName")
    check(sa and any(dig(s, "metadata", "name") == sa for s in of_kind(docs, "ServiceAccount")),
          "serviceAccountName %r is not created in deploy/" % (sa,))
    check(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
              for t in pod.get("tolerations") or []),
          "the DaemonSet must tolerate every taint (operator: Exists, no key)")
    grace = pod.get("terminationGracePeriodSeconds")
    check(isinstance(grace, int) and not isinstance(grace, bool) and 5 <= grace <= 120,
          "terminationGracePeriodSeconds must be set (5-120 s), got %r" % (grace,))

    containers = pod.get("containers") or []
    check(len(containers) == 1, "the agent pod has exactly one container, found %d" % len(containers))
    c = containers[0]
    version = gw_version()
    check(c.get("image") == "gilwatch:" + version,
          "image must be gilwatch:%s (user/lib/version.h), got %r" % (version, c.get("image")))
    port = listen_port(c.get("args"))

    ports = [p for p in c.get("ports") or [] if p.get("name") == "metrics"]
    check(len(ports) == 1, "the container needs one port named metrics")
    check(ports[0].get("containerPort") == port,
          "containerPort %r is not the --listen port %d" % (ports[0].get("containerPort"), port))
    check(ports[0].get("protocol", "TCP") == "TCP", "the metrics port is TCP")

    ann = dig(template, "metadata", "annotations") or {}
    check(ann.get("prometheus.io/scrape") == "true", 'annotation prometheus.io/scrape must be "true"')
    check(ann.get("prometheus.io/port") == str(port),
          "annotation prometheus.io/port %r is not the --listen port %d"
          % (ann.get("prometheus.io/port"), port))
    check(ann.get("prometheus.io/path") == "/metrics", 'annotation prometheus.io/path must be "/metrics"')

    env = {e.get("name"): e for e in c.get("env") or []}
    check(dig(env.get("NODE_NAME"), "valueFrom", "fieldRef", "fieldPath") == "spec.nodeName",
          "env NODE_NAME must come from fieldRef spec.nodeName")

    for probe in ("readinessProbe", "livenessProbe"):
        get = dig(c, probe, "httpGet")
        check(isinstance(get, dict), "%s must be an httpGet" % probe)
        check(get.get("path") == "/healthz", "%s must GET /healthz, not %r" % (probe, get.get("path")))
        check(get.get("port") in ("metrics", port),
              "%s port %r is not the metrics port" % (probe, get.get("port")))

    res = c.get("resources") or {}
    for key in ("cpu", "memory"):
        req, lim = dig(res, "requests", key), dig(res, "limits", key)
        check(req is not None, "resources.requests.%s missing" % key)
        check(lim is not None, "resources.limits.%s missing" % key)
        check(quantity(req, "requests." + key) <= quantity(lim, "limits." + key),
              "requests.%s %s exceeds limits.%s %s" % (key, req, key, lim))

    sc = c.get("securityContext")
    check(isinstance(sc, dict), "the container needs a securityContext")
    check(sc.get("privileged") is not True,
          "privileged: true is the documented fallback, not the default (docs/deploy.md)")
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
    check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
    caps = sc.get("capabilities") or {}
    drop = {str(x).upper().removeprefix("CAP_") for x in caps.get("drop") or []}
    add = {str(x).upper().removeprefix("CAP_") for x in caps.get("add") or []}
    check("ALL" in drop, "capabilities.drop must contain ALL")
    check(add <= ALLOWED_CAPS, "capabilities beyond what the agent needs: %s" % sorted(add - ALLOWED_CAPS))
    check(REQUIRED_CAPS <= add, "capabilities.add lacks %s" % sorted(REQUIRED_CAPS - add))
    seccomp = dig(sc, "seccompProfile", "type") or dig(pod, "securityContext", "seccompProfile", "type")
    check(seccomp in ("Unconfined", "RuntimeDefault", "Localhost"),
          "the seccomp profile must be stated (docs/deploy.md says which and why), got %r" % (seccomp,))

    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = c.get("volumeMounts") or []
    for m in mounts:
        v = volumes.get(m.get("name"))
        check(v is not None, "volumeMount %r has no volume" % m.get("name"))
        if "hostPath" in v:
            check(m.get("readOnly") is True,
                  "host path %s is mounted writable at %s" % (dig(v, "hostPath", "path"), m.get("mountPath")))
    for path in HOST_MOUNTS:
        found = [m for m in mounts if m.get("mountPath") == path]
        check(len(found) == 1, "%s must be mounted once" % path)
        check(found[0].get("readOnly") is True, "%s must be mounted readOnly" % path)
        check(dig(volumes.get(found[0].get("name")), "hostPath", "path") == path,
              "%s must be the host's %s (a hostPath volume)" % (path, path))

    check_monitors(docs, ns, pod_labels, port)


def check_relabel_node(relabelings, what):
    check(any(r.get("sourceLabels") == [NODE_LABEL_SOURCE] and r.get("targetLabel") == "node"
              and r.get("action", "replace") == "replace" for r in relabelings or []),
          "%s must relabel %s to node" % (what, NODE_LABEL_SOURCE))


def selects_namespace(monitor, ns):
    sel = dig(monitor, "spec", "namespaceSelector")
    if not sel:  # the monitor's own namespace
        return dig(monitor, "metadata", "namespace") == ns
    return sel.get("any") is True or ns in (sel.get("matchNames") or [])


def check_monitors(docs, ns, pod_labels, port):
    monitors = of_kind(docs, "ServiceMonitor") + of_kind(docs, "PodMonitor")
    check(monitors, "no ServiceMonitor or PodMonitor in deploy/")
    for m in monitors:
        check(m.get("apiVersion") == "monitoring.coreos.com/v1",
              "%s apiVersion must be monitoring.coreos.com/v1" % m["kind"])
        check(selects_namespace(m, ns), "%s does not look in namespace %s" % (m["kind"], ns))

    for sm in of_kind(docs, "ServiceMonitor"):
        services = [s for s in of_kind(docs, "Service")
                    if subset(match_labels(dig(sm, "spec", "selector"), "ServiceMonitor selector"),
                              dig(s, "metadata", "labels") or {})]
        check(len(services) == 1, "the ServiceMonitor must select exactly one Service in deploy/, "
                                  "selects %d" % len(services))
        svc = services[0]
        check(dig(svc, "spec", "clusterIP") == "None", "the Service must be headless (clusterIP: None)")
        check(subset(dig(svc, "spec", "selector"), pod_labels) and dig(svc, "spec", "selector"),
              "the Service selector does not match the DaemonSet's pod labels")
        svc_ports = {p.get("name"): p for p in dig(svc, "spec", "ports") or []}
        endpoints = dig(sm, "spec", "endpoints") or []
        check(endpoints, "the ServiceMonitor has no endpoints")
        for ep in endpoints:
            p = svc_ports.get(ep.get("port"))
            check(p is not None, "ServiceMonitor port %r is no port name of the Service" % ep.get("port"))
            check(p.get("targetPort") in ("metrics", port),
                  "Service port %r does not target the container's metrics port" % p.get("name"))
            check(ep.get("path", "/metrics") == "/metrics", "ServiceMonitor path must be /metrics")
            check_relabel_node(ep.get("relabelings"), "the ServiceMonitor")

    for pm in of_kind(docs, "PodMonitor"):
        check(subset(match_labels(dig(pm, "spec", "selector"), "PodMonitor selector"), pod_labels),
              "the PodMonitor selector does not match the DaemonSet's pod labels")
        endpoints = dig(pm, "spec", "podMetricsEndpoints") or []
        check(endpoints, "the PodMonitor has no podMetricsEndpoints")
        for ep in endpoints:
            check(ep.get("port") == "metrics",
                  "PodMonitor port %r is not the container port name metrics" % ep.get("port"))
            check(ep.get("path", "/metrics") == "/metrics", "PodMonitor path must be /metrics")
            check_relabel_node(ep.get("relabelings"), "the PodMonitor")


def _ds(docs):
    return of_kind(docs, "DaemonSet")[0]


def _pod(docs):
    return _ds(docs)["spec"]["template"]["spec"]


def _c(docs):
    return _pod(docs)["containers"][0]


def _set(obj, keys, value):
    for k in keys[:-1]:
        obj = obj.setdefault(k, {})
    obj[keys[-1]] = value


def _mount(docs, path):
    return next(m for m in _c(docs)["volumeMounts"] if m["mountPath"] == path)


def _replace_arg(docs, old, new):
    args = _c(docs)["args"]
    args[args.index(old)] = new


# Broken copies of the manifests, each of which check_manifests must reject.
MUTATIONS = [
    ("privileged: true", lambda d: _set(_c(d), ["securityContext", "privileged"], True)),
    ("no hostPID", lambda d: _pod(d).pop("hostPID")),
    ("hostPID: \"true\" (a string)", lambda d: _set(_pod(d), ["hostPID"], "true")),
    ("capability SYS_MODULE", lambda d: _c(d)["securityContext"]["capabilities"]["add"].append(
        "SYS_MODULE")),
    ("no capability SYS_ADMIN", lambda d: _c(d)["securityContext"]["capabilities"]["add"].remove(
        "SYS_ADMIN")),
    ("capability CAP_NET_ADMIN", lambda d: _c(d)["securityContext"]["capabilities"]["add"].append(
        "CAP_NET_ADMIN")),
    ("no capability BPF", lambda d: _c(d)["securityContext"]["capabilities"]["add"].remove("BPF")),
    ("no capability PERFMON", lambda d: _c(d)["securityContext"]["capabilities"]["add"].remove("PERFMON")),
    ("drop nothing", lambda d: _set(_c(d), ["securityContext", "capabilities", "drop"], [])),
    ("writable root filesystem", lambda d: _set(_c(d), ["securityContext", "readOnlyRootFilesystem"], False)),
    ("allowPrivilegeEscalation unset", lambda d: _c(d)["securityContext"].pop("allowPrivilegeEscalation")),
    ("no seccomp profile", lambda d: _c(d)["securityContext"].pop("seccompProfile")),
    ("writable /sys/kernel/btf", lambda d: _set(_mount(d, "/sys/kernel/btf"), ["readOnly"], False)),
    ("writable /sys/fs/cgroup", lambda d: _mount(d, "/sys/fs/cgroup").pop("readOnly")),
    ("no /sys/kernel/btf mount", lambda d: _c(d)["volumeMounts"].remove(_mount(d, "/sys/kernel/btf"))),
    ("writable extra host mount", lambda d: (
        _pod(d)["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        _c(d)["volumeMounts"].append({"name": "root", "mountPath": "/host"}))),
    ("no memory limit", lambda d: _c(d)["resources"]["limits"].pop("memory")),
    ("no cpu request", lambda d: _c(d)["resources"]["requests"].pop("cpu")),
    ("request above limit", lambda d: _set(_c(d), ["resources", "requests", "memory"], "1Gi")),
    ("scrape port annotation off", lambda d: _set(_ds(d)["spec"]["template"]["metadata"],
                                                  ["annotations", "prometheus.io/port"], "9948")),
    ("no scrape annotation", lambda d: _ds(d)["spec"]["template"]["metadata"]["annotations"].pop(
        "prometheus.io/scrape")),
    ("listen on another port", lambda d: _replace_arg(d, "0.0.0.0:9947", "0.0.0.0:9000")),
    ("listen on loopback", lambda d: _replace_arg(d, "0.0.0.0:9947", "127.0.0.1:9947")),
    ("containerPort off", lambda d: _set(_c(d)["ports"][0], ["containerPort"], 9948)),
    ("NODE_NAME from elsewhere", lambda d: _set(
        next(e for e in _c(d)["env"] if e["name"] == "NODE_NAME"),
        ["valueFrom", "fieldRef", "fieldPath"], "metadata.name")),
    ("liveness on /metrics", lambda d: _set(_c(d), ["livenessProbe", "httpGet", "path"], "/metrics")),
    ("no readiness probe", lambda d: _c(d).pop("readinessProbe")),
    ("stale image tag", lambda d: _set(_c(d), ["image"], "gilwatch:0.0.1")),
    ("no toleration", lambda d: _pod(d).pop("tolerations")),
    ("PodMonitor selects other pods", lambda d: _set(
        of_kind(d, "PodMonitor")[0]["spec"]["selector"]["matchLabels"], ["app.kubernetes.io/name"], "other")),
    ("PodMonitor empty selector", lambda d: _set(of_kind(d, "PodMonitor")[0]["spec"], ["selector"], {})),
    ("PodMonitor port name off", lambda d: _set(
        of_kind(d, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0], ["port"], "http")),
    ("ServiceMonitor port name off", lambda d: _set(
        of_kind(d, "ServiceMonitor")[0]["spec"]["endpoints"][0], ["port"], "http")),
    ("ServiceMonitor selects no Service", lambda d: _set(
        of_kind(d, "ServiceMonitor")[0]["spec"]["selector"]["matchLabels"], ["app.kubernetes.io/name"], "x")),
    ("Service selects other pods", lambda d: _set(
        of_kind(d, "Service")[0]["spec"]["selector"], ["app.kubernetes.io/component"], "other")),
    ("Service not headless", lambda d: of_kind(d, "Service")[0]["spec"].pop("clusterIP")),
    ("no node relabeling", lambda d: of_kind(d, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0].pop(
        "relabelings")),
    ("DaemonSet in another namespace", lambda d: _set(_ds(d)["metadata"], ["namespace"], "default")),
]


def test_manifests():
    docs = load_docs()
    check_manifests(docs)
    kinds = sorted(d["kind"] for d in docs)
    for kind in ("DaemonSet", "Namespace", "PodMonitor", "Service", "ServiceAccount", "ServiceMonitor"):
        check(kind in kinds, "deploy/ has no %s" % kind)
    # The checker must catch each of these.
    for name, mutate in MUTATIONS:
        broken = copy.deepcopy(docs)
        mutate(broken)
        try:
            check_manifests(broken)
        except Failure:
            continue
        raise Failure("the manifest checker accepts a copy with %s" % name)


# ---------------------------------------------------------------- yamllint

def yamllint(paths):
    exe = shutil.which("yamllint")
    check(exe, "yamllint is missing: apt-get install yamllint")
    return subprocess.run([exe, "-s", "-f", "parsable", "-c", YAMLLINT_CONFIG, *paths],
                          capture_output=True, text=True, timeout=60)


def test_yamllint():
    paths = manifest_files() + [YAMLLINT_CONFIG]
    r = yamllint(paths)
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not out, "yamllint -s (deploy/.yamllint):\n%s" % out)
    # The configuration must be strict enough to catch these.
    bad = {
        "truthy": "---\nkey: yes\n",
        "line-length": "---\nkey: %s\n" % ("x" * 130),
        "document-start": "key: value\n",
        "key-duplicates": "---\nkey: 1\nkey: 2\n",
        "indentation": "---\nlist:\n- a\n",
        "trailing-spaces": "---\nkey: value  \n",
    }
    with tempfile.TemporaryDirectory(prefix="gilwatch-yamllint-") as tmp:
        for rule, text in bad.items():
            path = os.path.join(tmp, rule + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            r = yamllint([path])
            check(r.returncode != 0 and "(%s)" % rule in r.stdout,
                  "deploy/.yamllint does not catch %s: rc %d, %s" % (rule, r.returncode, r.stdout.strip()))


# ---------------------------------------------------------------- Dockerfile

def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with line continuations joined and
    comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):  # a comment inside a continued instruction
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    check(not cur, "Dockerfile ends inside a continued line")
    return out


def stages(instructions):
    """[{"from": image, "name": alias, "body": [(INSTR, args)]}]"""
    result = []
    for instr, args in instructions:
        if instr == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"from": words[0], "name": name, "body": []})
        elif instr in ("ARG",) and not result:
            continue
        else:
            check(result, "Dockerfile: %s before FROM" % instr)
            result[-1]["body"].append((instr, args))
    return result


def apt_packages(stage):
    """Packages named on the stage's `apt-get install` lines."""
    pkgs = set()
    for instr, args in stage["body"]:
        if instr != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", args):
            if "apt-get" not in cmd:
                continue
            try:
                words = shlex.split(cmd)
            except ValueError:
                words = cmd.split()
            if "apt-get" in words and "install" in words:
                rest = words[words.index("install") + 1:]
                pkgs |= {w for w in rest if not w.startswith("-") and "=" not in w}
    return pkgs


def exec_form(args, what):
    try:
        value = json.loads(args)
    except ValueError:
        raise Failure("%s must be in exec (JSON) form, got %s" % (what, args))
    check(isinstance(value, list) and all(isinstance(x, str) for x in value),
          "%s must be a JSON list of strings" % what)
    return value


def makefile_libs():
    with open(MAKEFILE) as f:
        m = re.search(r"^LDLIBS\s*:?=\s*(.*)$", f.read(), re.M)
    check(m, "Makefile: no LDLIBS")
    return re.findall(r"-l(\S+)", m.group(1))


def check_dockerfile(text):
    st = stages(dockerfile_instructions(text))
    check(len(st) >= 2, "the Dockerfile must be multi-stage (build, then runtime), has %d stage(s)" % len(st))
    for s in st:
        check(re.fullmatch(r"debian:(12|bookworm)(-slim)?(@sha256:[0-9a-f]{64})?", s["from"]),
              "every stage must be FROM debian:12 (bookworm), not %s" % s["from"])
    build, runtime = st[0], st[-1]
    check(build["name"], "the build stage needs a name (FROM debian:12 AS build)")
    check(re.fullmatch(r"debian:(12|bookworm)-slim(@.*)?", runtime["from"]),
          "the runtime stage must be debian:12-slim, not %s" % runtime["from"])

    build_pkgs, run_pkgs = apt_packages(build), apt_packages(runtime)
    libs = makefile_libs()
    unknown = [lib for lib in libs if lib not in LIB_PACKAGES]
    check(not unknown, "the Makefile links %s: add its packages to deploy/Dockerfile and to LIB_PACKAGES "
                       "in tests/integration/deploy_tests.py" % ["-l" + x for x in unknown])
    need_build = BUILD_TOOLS | {LIB_PACKAGES[x][0] for x in libs}
    need_run = {LIB_PACKAGES[x][1] for x in libs} - {None}
    check(need_build <= build_pkgs, "the build stage does not install %s" % sorted(need_build - build_pkgs))
    check(need_run <= run_pkgs, "the runtime stage does not install %s" % sorted(need_run - run_pkgs))
    compilers = sorted(p for p in run_pkgs if COMPILER_RE.search(p))
    check(not compilers, "the runtime image must not carry build tools: %s" % compilers)

    build_runs = " ".join(a for i, a in build["body"] if i == "RUN")
    commands = [c.split() for c in re.split(r"&&|\|\||;|\bthen\b|\belse\b|\bdo\b", build_runs)]
    check(any(c[:1] == ["make"] for c in commands), "the build stage never runs make")
    check("/sys/kernel/btf/vmlinux" in build_runs,
          "the build stage must say what happens without /sys/kernel/btf/vmlinux")

    copies = [a.split() for i, a in build["body"] if i in ("COPY", "ADD")]
    sources = []
    for words in copies:
        words = [w for w in words if not w.startswith("--")]
        check(len(words) >= 2, "COPY needs a source and a destination")
        sources += words[:-1]
    check("." not in sources and "./" not in sources, "copy only what the build needs, not the whole context")
    for needed in ("Makefile", "bpf", "include", "user"):
        check(any(s.rstrip("/") == needed for s in sources), "the build stage does not COPY %s" % needed)
    for s in sources:
        check(glob.has_magic(s) or os.path.exists(os.path.join(ROOT, s)),
              "COPY source %s is not in the repository" % s)

    runtime_copies = [a for i, a in runtime["body"] if i == "COPY"]
    check(any(re.search(r"--from=(%s|0)\b" % re.escape(build["name"]), a)
              and a.split()[-1] == "/usr/local/bin/gilwatch" for a in runtime_copies),
          "the runtime stage must COPY --from=%s the binary to /usr/local/bin/gilwatch" % build["name"])

    entry = [a for i, a in runtime["body"] if i == "ENTRYPOINT"]
    check(entry, "the runtime stage has no ENTRYPOINT")
    check(exec_form(entry[-1], "ENTRYPOINT") == ["/usr/local/bin/gilwatch"],
          "ENTRYPOINT must be [\"/usr/local/bin/gilwatch\"], got %s" % entry[-1])
    cmd = [a for i, a in runtime["body"] if i == "CMD"]
    check(cmd, "the runtime stage has no CMD")
    cmd = exec_form(cmd[-1], "CMD")
    check(cmd[:1] == ["agent"] and "--listen" in cmd, "CMD must run the agent with --listen, got %s" % cmd)
    labels = " ".join(a for i, a in runtime["body"] if i == "LABEL")
    m = re.search(r'org\.opencontainers\.image\.version="?([^"\s]+)', labels)
    check(m and m.group(1) == gw_version(),
          "LABEL org.opencontainers.image.version must be %s (user/lib/version.h)" % gw_version())


def test_dockerfile():
    with open(DOCKERFILE) as f:
        text = f.read()
    check_dockerfile(text)
    # The checker must catch these.
    broken = {
        "a single stage": re.sub(r"(?s)^.*?(?=^FROM debian:12-slim)", "", text, flags=re.M),
        "clang in the runtime image": text.replace("libbpf1 libelf1", "libbpf1 clang libelf1"),
        "gcc in the runtime image": text.replace("libbpf1 libelf1", "libbpf1 gcc-12 libelf1"),
        "a -dev package in the runtime image": text.replace("libbpf1 libelf1", "libbpf1 libelf-dev libelf1"),
        "another entrypoint": text.replace('ENTRYPOINT ["/usr/local/bin/gilwatch"]',
                                           'ENTRYPOINT ["/bin/sh"]'),
        "a shell-form entrypoint": text.replace('ENTRYPOINT ["/usr/local/bin/gilwatch"]',
                                                "ENTRYPOINT /usr/local/bin/gilwatch"),
        "another base": text.replace("FROM debian:12-slim", "FROM ubuntu:24.04"),
        "a missing runtime library": text.replace("libmicrohttpd12 ", ""),
        "the whole context copied": text.replace("COPY user/ user/", "COPY . ."),
        "no make": text.replace('make -j"$(nproc)" all;', "true;"),
    }
    for name, t in broken.items():
        check(t != text, "test_dockerfile: the mutation %r changed nothing" % name)
        try:
            check_dockerfile(t)
        except Failure:
            continue
        raise Failure("the Dockerfile checker accepts %s" % name)
