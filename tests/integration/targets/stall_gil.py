"""One thread holds the GIL in a long C call (sum over a range never lets the
GIL go) while another thread waits for it: a gil-held stall, no cycle."""
import threading
import time

import sync

facts = {}


def hog():
    facts["hog"] = threading.get_native_id()
    time.sleep(0.2)
    sum(range(4 * 10**9))


def ticker():
    facts["ticker"] = threading.get_native_id()
    while True:
        time.sleep(0.001)


sync.wait_for_go()
threads = [threading.Thread(target=f, daemon=True) for f in (hog, ticker)]
for t in threads:
    t.start()
while len(facts) < 2:
    time.sleep(0.01)
sync.report(**facts)
threads[0].join()
