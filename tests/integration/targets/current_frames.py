"""100 sys._current_frames() and 10 sys._current_exceptions() calls from a
worker thread, so the reported tid can be told apart from the main thread's."""
import sys
import threading

import sync

facts = {}


def status_thread():
    facts["tid"] = threading.get_native_id()
    for _ in range(100):
        sys._current_frames()
    for _ in range(10):
        sys._current_exceptions()


sync.wait_for_go()
t = threading.Thread(target=status_thread, name="status")
t.start()
t.join()
sync.report(main_tid=threading.get_native_id(), **facts)
