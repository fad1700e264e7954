"""Busy but healthy: a thread pool doing queue hand-offs, logging, JSON and
cyclic garbage, plus a status thread calling sys._current_frames(). Runs for
argv[3] seconds (default 4) and exits: no verdict may fire on it."""
import concurrent.futures
import gc
import json
import logging
import queue
import sys
import threading
import time

import sync

log = logging.getLogger("benign")
logging.basicConfig(stream=open("/dev/null", "w"), level=logging.INFO)
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 4.0
stop = threading.Event()


class Node:
    def __init__(self):
        self.me = self


def task(q, n):
    for i in range(200):
        q.put(json.dumps({"task": n, "i": i, "nodes": len([Node() for _ in range(5)])}))
    log.info("task %d done", n)
    return n


def consumer(q):
    while not stop.is_set():
        try:
            json.loads(q.get(timeout=0.1))
        except queue.Empty:
            pass


def status():
    while not stop.is_set():
        sys._current_frames()
        time.sleep(0.05)


sync.wait_for_go()
q = queue.Queue(maxsize=100)
helpers = [threading.Thread(target=consumer, args=(q,)) for _ in range(2)]
helpers.append(threading.Thread(target=status))
for t in helpers:
    t.start()
end = time.monotonic() + seconds
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    n = 0
    while time.monotonic() < end:
        list(pool.map(task, [q] * 4, range(n, n + 4)))
        gc.collect(0)
        n += 4
stop.set()
for t in helpers:
    t.join()
sync.report(tasks=n)
