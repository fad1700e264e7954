"""Single-thread self-deadlock on CPython 3.11 (gh-106883).

A gc callback drops a threading.local: its teardown (local_clear) takes
HEAD_LOCK. When the collection runs inside sys._current_frames(), which
already holds HEAD_LOCK, the thread waits for a lock it holds, forever.
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


def drop_a_local(phase, info):
    if phase == "start":
        local = threading.local()
        local.x = 1
        del local


sync.wait_for_go()
sync.report(tid=threading.get_native_id())
gc.callbacks.append(drop_a_local)
gc.set_threshold(1)
end = time.monotonic() + 30
kept = []  # drains the tuple free list: _current_exceptions() then allocates from the GC
while time.monotonic() < end:
    kept.append(COLLECT())
