"""Slow, not stuck: a worker holds a threading.Lock for seconds while it
works (its counter moves), another thread waits for that lock, pool
workers wait for work and a thread waits on an Event. Nothing here may be
called deadlocked, from a snapshot or traced. argv[3]: seconds to run.
"""
import concurrent.futures
import sys
import threading
import time

import sync

lock = threading.Lock()
progress = [0]


def slow_holder(until):
    while time.monotonic() < until:
        with lock:
            end = time.monotonic() + 3
            while time.monotonic() < end:
                progress[0] += sum(range(1000))


def waiter(until):
    while time.monotonic() < until:
        with lock:
            time.sleep(0.01)


sync.wait_for_go()
until = time.monotonic() + float(sys.argv[3])
event = threading.Event()
threads = [threading.Thread(target=slow_holder, args=(until,)),
           threading.Thread(target=waiter, args=(until,)),
           threading.Thread(target=event.wait)]
for t in threads:
    t.start()
sync.report(holder=threads[0].native_id, waiter=threads[1].native_id)
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    pool.submit(sum, range(10)).result()
    time.sleep(float(sys.argv[3]))
    event.set()
for t in threads:
    t.join()
