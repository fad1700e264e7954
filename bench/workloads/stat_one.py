"""(1a) Worst-case GIL churn, one thread: os.stat('/') in a tight loop.
Each call releases and retakes the GIL (uncontended): the path gilwatch's
default mode must not probe. argv[3]: iterations."""
import os

import benchsync

n = benchsync.scale()
with benchsync.Measure() as m:
    stat = os.stat
    for _ in range(n):
        stat("/")
    m.facts["iterations"] = n
