"""Fork churn: after go, argv[3] rounds; each forks a child that execs a
short CPython (three collections, then exit) and a child that runs on as a
fork (two collections, then exit), and collects once itself. Reports its
own collections; then idles."""
import gc
import os
import sys
import time

import sync

gc.disable()  # only the explicit collections: an exact count to compare
open(sys.argv[1] + ".ready", "w").close()
sync.wait_for_go(timeout=60)
before = gc.get_stats()[2]["collections"]
for _ in range(int(sys.argv[3])):
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import gc, time\n"
                                  "for _ in range(3): gc.collect(); time.sleep(0.05)"])
    child = os.fork()
    if child == 0:
        gc.collect()
        gc.collect()
        os._exit(0)
    gc.collect()
    os.waitpid(pid, 0)
    os.waitpid(child, 0)
    time.sleep(0.1)
sync.report(collections=gc.get_stats()[2]["collections"] - before)
while True:
    time.sleep(1)
