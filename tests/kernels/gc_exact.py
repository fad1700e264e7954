"""A guest_checks.py target: exactly 50 explicit full collections and no
other. Automatic collection is off, and os._exit skips the collections of
interpreter shutdown (four on 3.12), which targets/gc_collect.py counts too.
"""
import gc
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                                "targets"))
import sync  # noqa: E402

gc.disable()
sync.wait_for_go()
for _ in range(50):
    gc.collect()
sync.report(tid=threading.get_native_id())
os._exit(0)
