"""A Beam-like worker that freezes on CPython 3.10-3.11.11 (gh-106883).

A status thread calls sys._current_frames() in a loop (as Beam's worker
status does) while other threads start and end and create garbage whose
finalizers release the GIL. A tiny GC threshold and switch interval make the
HEAD_LOCK/GIL inversion happen within a second. argv[3] == "gc-off" wraps the
call in gc.disable()/gc.enable() as Beam 2.64 does: then it must not freeze.
"""
import gc
import os
import sys
import threading
import time

import sync

# GW_TEST_API=exceptions: sys._current_exceptions() instead, which also
# holds HEAD_LOCK while it allocates (the only one that collects on 3.10).
COLLECT = (sys._current_exceptions if os.environ.get("GW_TEST_API") == "exceptions"
           else sys._current_frames)

GC_OFF = len(sys.argv) > 3 and sys.argv[3] == "gc-off"
status_tid = []


class Finalized:
    def __init__(self):
        self.cycle = self  # only the collector frees it

    def __del__(self):
        time.sleep(0.001)  # releases the GIL inside the collection


def status_thread():
    status_tid.append(threading.get_native_id())
    while True:
        Finalized()  # garbage with a finalizer, pending when the call collects
        if GC_OFF:
            gc.disable()
            try:
                COLLECT()
            finally:
                gc.enable()
        else:
            COLLECT()


def short_lived():
    for _ in range(10):
        Finalized()


def churn():
    while True:
        t = threading.Thread(target=short_lived)
        t.start()
        t.join()


sync.wait_for_go()
threading.Thread(target=status_thread, daemon=True).start()
while not status_tid:
    time.sleep(0.001)
# Reported before the collector runs at every allocation: else the main
# thread can spend its life finalizing the status thread's garbage.
sync.report(status_tid=status_tid[0], main_tid=threading.get_native_id())
gc.set_threshold(1)
sys.setswitchinterval(1e-6)
for _ in range(2):
    threading.Thread(target=churn, daemon=True).start()
time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 30)
