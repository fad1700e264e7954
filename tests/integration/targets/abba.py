"""Classic ABBA: two threads take two threading.Locks in opposite order
(threading.RLocks with GW_TEST_API=rlock)."""
import os
import threading
import time

import sync

both_hold_one = threading.Barrier(2)
tids = {}


def first():
    tids["first"] = threading.get_native_id()
    with a:
        both_hold_one.wait()
        b.acquire()  # FIRST_WAITS


def second():
    tids["second"] = threading.get_native_id()
    with b:
        both_hold_one.wait()
        a.acquire()  # SECOND_WAITS


sync.wait_for_go()
# Created once gilwatch watches: --deep names them by this line.
kind = threading.RLock if os.environ.get("GW_TEST_API") == "rlock" else threading.Lock
a, b = kind(), kind()  # LOCKS_CREATED
threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
for t in threads:
    t.start()
while len(tids) < 2:
    time.sleep(0.01)
sync.report(**tids)
for t in threads:
    t.join()  # an untimed wait: with the two lock waiters, all threads are blocked
