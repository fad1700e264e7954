"""Apache Beam's own worker status: a status thread calls
apache_beam.runners.worker.worker_status.thread_dump() in a loop while
bundle-processing threads start, end and create garbage with finalizers.
Beam 2.63 calls sys._current_frames() bare (the gh-106883 hazard on 3.11);
2.64 disables the GC around it on 3.11."""
import gc
import sys
import threading
import time

from apache_beam.runners.worker import worker_status

import sync

dumps = [0]


class Element:
    def __init__(self):
        self.cycle = self

    def __del__(self):
        pass  # a finalizer only: long ones starve the status thread


def status_thread():
    while True:
        Element()
        worker_status.thread_dump()
        dumps[0] += 1


def bundle():
    for _ in range(20):
        Element()


def bundle_threads():
    while True:
        t = threading.Thread(target=bundle)
        t.start()
        t.join()


sync.wait_for_go()
gc.set_threshold(10)
threading.Thread(target=status_thread, daemon=True).start()
for _ in range(2):
    threading.Thread(target=bundle_threads, daemon=True).start()
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 6)
sync.report(dumps=dumps[0])
