"""Two threads running pure-Python loops: each has to wait for the GIL."""
import threading
import time

import sync

tids = []


def spin(seconds):
    tids.append(threading.get_native_id())
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


sync.wait_for_go()
threads = [threading.Thread(target=spin, args=(1.0,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sync.report(tids=tids)
