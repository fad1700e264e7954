"""(1b) Worst-case GIL churn, four threads contending: each runs a short
pure-Python loop and an os.stat('/') per iteration, so the GIL changes
hands all the time and threads wait for it. argv[3]: iterations per thread."""
import os
import threading

import benchsync

THREADS = 4
n = benchsync.scale()


def spin():
    stat = os.stat
    for i in range(n):
        x = 0
        for j in range(8):
            x += j * i
        stat("/")


with benchsync.Measure() as m:
    threads = [threading.Thread(target=spin) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m.facts["iterations"] = n * THREADS
