"""Exactly 50 explicit full collections."""
import gc
import threading

import sync

sync.wait_for_go()
for _ in range(50):
    gc.collect()
sync.report(tid=threading.get_native_id(), collections=50)
