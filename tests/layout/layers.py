#!/usr/bin/env python3
"""The layering of user/: one folder per pipeline stage, in the order the
Makefile's USER_STAGES gives; a file includes headers of its own stage and
of the stages before it only, and no two modules (x.c with x.h) need each
other. Prints every breach and exits 1 if there is one."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER = os.path.join(ROOT, "user")
# The BPF skeletons: the programs' maps, from the attach stage on.
SKELETONS = {"gilwatch.skel.h": "attach", "retfix.skel.h": "attach"}


def stages():
    with open(os.path.join(ROOT, "Makefile")) as f:
        m = re.search(r"^USER_STAGES := (.*)$", f.read(), re.M)
    return m.group(1).split()


def cycles(needs):
    """The include cycles between modules, each once, from its least name."""
    found = set()

    def walk(path):
        for nxt in sorted(needs.get(path[-1], ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:
                walk(path + [nxt])

    for start in sorted(needs):
        walk([start])
    return [list(c) for c in sorted(found)]


def main():
    order = stages()
    where = {}  # header or source name -> stage
    for stage in os.listdir(USER):
        for name in os.listdir(os.path.join(USER, stage)):
            where[name] = stage
    unknown = sorted(set(where.values()) - set(order))
    breaches = ["folder %s is not in USER_STAGES" % s for s in unknown]
    needs = {}  # module -> modules it includes
    for name, stage in sorted(where.items()):
        with open(os.path.join(USER, stage, name)) as f:
            includes = re.findall(r'^#include "([^"]+)"', f.read(), re.M)
        module = os.path.splitext(name)[0]
        for inc in includes:
            dep = where.get(inc) or SKELETONS.get(inc)
            if dep is None:
                continue  # include/gilwatch.h, the ABI: every stage's
            if dep not in order or order.index(dep) > order.index(stage):
                breaches.append("user/%s/%s includes %s of the later stage %s"
                                % (stage, name, inc, dep))
            dep_module = os.path.splitext(inc)[0]
            if inc in where and dep_module != module:
                needs.setdefault(module, set()).add(dep_module)
    for cycle in cycles(needs):
        breaches.append("modules that need each other: " + " -> ".join(cycle + cycle[:1]))
    for b in breaches:
        print("layers: " + b)
    print("layers: %d files in %d stages, %d breaches" % (len(where), len(order), len(breaches)))
    sys.exit(1 if breaches else 0)


if __name__ == "__main__":
    main()
