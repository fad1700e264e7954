"""Crashes with SIGSEGV in c() <- b() <- a() on a named worker thread, once
the harness says go: the crash event must carry this Python stack and the
native one, captured as the signal is delivered (the process is gone a moment
later). argv[3] == "abort" raises SIGABRT instead (os.abort()).
"""
import ctypes
import os
import sys
import threading

import sync

ABORT = len(sys.argv) > 3 and sys.argv[3] == "abort"


def c():
    if ABORT:
        os.abort()  # ABORT_C
    ctypes.string_at(0)  # CRASH_C


def b():
    c()  # CALL_C


def a():
    b()  # CALL_B


def worker():
    sync.report(tid=threading.get_native_id())
    a()  # CALL_A


sync.wait_for_go()
t = threading.Thread(target=worker, name="crasher")
t.start()
t.join()
