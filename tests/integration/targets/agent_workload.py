"""A workload for the agent tests: says it is ready (automatic collection
off), and once the harness says go, makes exactly 50 explicit gen2
collections, then idles. Reports how many collections of each
generation CPython itself counted since go (gc.get_stats()), which the
agent's gilwatch_gc_collections_total must equal.
"""
import gc
import sys
import time

import sync

gc.disable()  # only the explicit collections below: an exact count to compare
open(sys.argv[1] + ".ready", "w").close()
sync.wait_for_go(timeout=60)
before = [g["collections"] for g in gc.get_stats()]
for _ in range(50):
    gc.collect()
    time.sleep(0.01)
after = [g["collections"] for g in gc.get_stats()]
sync.report(collections=[a - b for a, b in zip(after, before)])
while True:
    time.sleep(1)
