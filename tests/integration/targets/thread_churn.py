"""Thread churn: after go, argv[3] seconds of short-lived threads, 16 at a
time, each making one explicit collection (an event in its own thread).
Reports how many threads ran; then idles with its main thread alone."""
import gc
import sys
import threading
import time

import sync

gc.disable()  # only the threads' collections: an exact count to compare
open(sys.argv[1] + ".ready", "w").close()
sync.wait_for_go(timeout=60)
n, end = 0, time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    batch = [threading.Thread(target=gc.collect) for _ in range(16)]
    for t in batch:
        t.start()
    for t in batch:
        t.join()
    n += len(batch)
sync.report(threads=n)
while True:
    time.sleep(1)
