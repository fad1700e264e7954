"""A process that keeps collecting for a while after go (gc.collect() every
10 ms for argv[3] seconds) and exits 0: what an agent's crash or restart
must not disturb. Reports how many collections it made."""
import gc
import sys
import time

import sync

seconds = float(sys.argv[3])
open(sys.argv[1] + ".ready", "w").close()
sync.wait_for_go(timeout=60)
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    gc.collect()
    n += 1
    time.sleep(0.01)
sync.report(collections=n)
