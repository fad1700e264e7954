"""Runs workload scripts one after the other in this one process:

    sequence.py GO FACTS SCRIPT SCALE [SCRIPT SCALE ...]

Phase i is SCRIPT run as __main__ with argv GO.i FACTS.i SCALE (the
benchsync handshake: GO.i.ready, GO.i, FACTS.i, GO.i.exit). `make bench`
gives each workload a process of its own; `make bench-smoke` runs them all
in one (each process the agent watches costs it ~1 s to let go of)."""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
go, facts, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
if not rest or len(rest) % 2:
    sys.exit(__doc__)
for i in range(len(rest) // 2):
    script, scale = rest[2 * i], rest[2 * i + 1]
    sys.argv = [script, "%s.%d" % (go, i), "%s.%d" % (facts, i), scale]
    runpy.run_path(os.path.join(HERE, script), run_name="__main__")
