"""(2) GC-heavy allocation of cyclic garbage: pairs of objects pointing at
each other (only the collector frees them) and self-referencing lists, with
a rolling window of live objects so that older generations have work too.
Default thresholds: thousands of collections a second. argv[3]: iterations."""
import gc

import benchsync


class Node:
    def __init__(self, payload):
        self.payload = payload
        self.peer = None


n = benchsync.scale()
WINDOW = 20000
with benchsync.Measure() as m:
    before = [s["collections"] for s in gc.get_stats()]
    live = [None] * WINDOW
    for i in range(n):
        a = Node(i)
        b = Node([a])
        a.peer = b
        b.peer = a
        lst = [a, b]
        lst.append(lst)
        if i % 4 == 0:
            live[i % WINDOW] = lst  # kept a while, then garbage
    after = [s["collections"] for s in gc.get_stats()]
    m.facts["iterations"] = n
    m.facts["collections"] = [a - b for a, b in zip(after, before)]
