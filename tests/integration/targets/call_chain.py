"""Known call chains for the stack tests.

A worker thread blocks in c() <- b() <- a() <- Worker.run() on a lock; the
main thread sleeps. The target reports what CPython itself says the worker's
frames are (sys._current_frames()), so the test compares gilwatch's stacks
with the interpreter's own view. SIGUSR1 releases the worker, which then
writes argv[1]: proof that being dumped did not break its wait.
"""
import signal
import sys
import threading
import time

import sync

ready = threading.Event()
release = threading.Event()


def c():
    ready.set()
    release.wait()  # WAIT_C


def b():
    c()  # CALL_C


def a():
    b()  # CALL_B


class Worker:
    def run(self):
        a()  # CALL_A
        open(sys.argv[1], "w").close()


def frames_of(frame):
    out = []
    while frame is not None:
        code = frame.f_code
        out.append({"function": getattr(code, "co_qualname", code.co_name),
                    "file": code.co_filename, "line": frame.f_lineno})
        frame = frame.f_back
    return out


signal.signal(signal.SIGUSR1, lambda *_: release.set())
t = threading.Thread(target=Worker().run, name="chain-worker")
t.start()
ready.wait()
time.sleep(0.2)  # the worker reaches the lock inside release.wait()
sync.report(worker_tid=t.native_id, main_tid=threading.get_native_id(),
            worker=frames_of(sys._current_frames()[t.ident]))
while True:
    time.sleep(600)  # MAIN_SLEEP
