"""Idle but healthy: thread-pool workers blocked for seconds in their queue's
get() and a thread in Event.wait() (locks each took themselves, waiting for
someone else's release), while the main thread sleeps. No verdict may fire,
with or without --deep."""
import concurrent.futures
import sys
import threading
import time

import sync

sync.wait_for_go()
event = threading.Event()
waiter = threading.Thread(target=event.wait)
waiter.start()
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    pool.submit(sum, range(10)).result()
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 4)
    event.set()
waiter.join()
sync.report(ok=True)
