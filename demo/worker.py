"""Demo workload for `make demo`: a small Beam-like worker.

A status thread calls sys._current_frames() every second (as Beam's worker
status does), a pool of threads alternates pure-Python work and I/O (GIL
contention), and finalizable cyclic garbage keeps the collector busy.
"""
import gc
import json
import os
import sys
import threading
import time


class Record:
    def __init__(self, payload):
        self.payload = payload
        self.self_ref = self  # a cycle only the collector frees

    def __del__(self):
        pass


def status_thread():
    while True:
        frames = sys._current_frames()
        sys.stderr.flush()
        del frames
        time.sleep(1.0)


def worker(n):
    while True:
        batch = [Record(json.dumps({"i": i, "worker": n})) for i in range(2000)]
        total = sum(len(json.loads(r.payload)) for r in batch)
        del batch
        with open(os.devnull, "w") as f:
            f.write(str(total))
        time.sleep(0.01)


if __name__ == "__main__":
    gc.set_threshold(500, 5, 5)
    threading.Thread(target=status_thread, name="status", daemon=True).start()
    for n in range(3):
        threading.Thread(target=worker, args=(n,), name="worker-%d" % n, daemon=True).start()
    print("demo worker pid %d" % os.getpid(), flush=True)
    while True:
        time.sleep(3600)
