"""Two locks taken A then B by one thread and freed; two new locks C, D made
in their memory (glibc hands the freed blocks back, last freed first:
C where B was, D where A was) taken C then D by a second thread: reused
addresses, not an inversion. Then a third thread takes D then C: that one
is. Facts: the semaphores' addresses, so the test can tell the reuse
happened, and the two threads of the real inversion.
"""
import ctypes
import threading
import time

import sync


def sem(lock):
    # lockobject: PyObject_HEAD, then its PyThread_type_lock (3.10-3.12).
    return ctypes.c_void_p.from_address(id(lock) + 16).value


def made_and_freed(out):
    a, b = threading.Lock(), threading.Lock()
    out["a"], out["b"] = sem(a), sem(b)
    with a:
        with b:
            pass
    del a  # freed first, so handed back last
    del b
    time.sleep(0.5)  # the A -> B edge is seen before the new locks come
    c, d = threading.Lock(), threading.Lock()
    out["c"], out["d"] = sem(c), sem(d)
    out["locks"] = (c, d)


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
c, d = facts.pop("locks")
u = threading.Thread(target=in_order, args=(c, d, facts, "c_then_d"))
u.start()
u.join()
time.sleep(1.5)  # scans between: the reuse alone must give no lock_order
v = threading.Thread(target=in_order, args=(d, c, facts, "d_then_c"))
v.start()
v.join()
sync.report(**facts)
time.sleep(2)  # a few detector scans after the last edge
