"""Two locks taken A then B by one thread and freed; two new locks C, D made
in their memory (of new locks, the one where B was, and the one where A
was: allocators hand freed blocks back soon) taken C then D by a second thread: reused
addresses, not an inversion. Then a third thread takes D then C: that one
is. Facts: the locks' addresses as gilwatch names them (their semaphores,
or their PyMutexes), so the test can tell the reuse happened, and the two
threads of the real inversion.
"""
import ctypes
import threading
import time

import sync


def sem(lock):
    # lockobject: PyObject_HEAD, then its PyThread_type_lock (3.10-3.13.0),
    # or its PyMutex (3.13.1+), a zero byte in a zeroed word when unlocked.
    return ctypes.c_void_p.from_address(id(lock) + 16).value or id(lock) + 16


def made_and_freed(out):
    a, b = threading.Lock(), threading.Lock()
    out["a"], out["b"] = sem(a), sem(b)
    with a:
        with b:
            pass
    del a  # freed first, so handed back last
    del b
    time.sleep(0.5)  # the A -> B edge is seen before the new locks come
    # Allocators hand freed blocks back soon, not always next (pymalloc's
    # pools serve other objects of the size too): the ones in their memory.
    pool = [threading.Lock() for _ in range(64)]
    where = {sem(lock): lock for lock in pool}
    c, d = where.get(out["b"]), where.get(out["a"])
    out["c"], out["d"] = sem(c) if c else 0, sem(d) if d else 0
    out["locks"] = (c, d, pool)


def in_order(first, second, out, name):
    out[name] = threading.get_native_id()
    with first:
        with second:
            pass


sync.wait_for_go()
facts = {}
t = threading.Thread(target=made_and_freed, args=(facts,))
t.start()
t.join()
c, d, pool = facts.pop("locks")
u = threading.Thread(target=in_order, args=(c, d, facts, "c_then_d"))
u.start()
u.join()
time.sleep(1.5)  # scans between: the reuse alone must give no lock_order
v = threading.Thread(target=in_order, args=(d, c, facts, "d_then_c"))
v.start()
v.join()
sync.report(**facts)
time.sleep(2)  # a few detector scans after the last edge
