"""A burst of events: after go, explicit collections as fast as it can for
argv[3] seconds (thousands a second, one ring buffer record each). Reports
how many; then idles."""
import gc
import sys
import time

import sync

gc.disable()  # only the explicit collections: an exact count to compare
open(sys.argv[1] + ".ready", "w").close()
sync.wait_for_go(timeout=60)
n, end = 0, time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    gc.collect()
    n += 1
sync.report(collections=n)
while True:
    time.sleep(1)
