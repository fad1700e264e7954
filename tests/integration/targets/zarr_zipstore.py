"""zarr 3.0.1's own ZipStore read through a fork-start ProcessPoolExecutor,
as users did (zarr-python issues 2752, 2812): the parent's first read starts
zarr's I/O loop thread; the forked worker has the loop but not the thread,
and waits forever. argv[3]: start method (fork or spawn); argv[4]: how long
the parent waits for the result before giving up."""
import concurrent.futures
import multiprocessing
import os
import sys
import tempfile
import threading

import numpy as np
import zarr
from zarr.storage import ZipStore

import sync


def read_chunk(args):
    path, i = args
    store = ZipStore(path, mode="r")
    return float(zarr.open_array(store, mode="r")[i * 10:(i + 1) * 10].sum())


if __name__ == "__main__":
    method = sys.argv[3] if len(sys.argv) > 3 else "fork"
    path = os.path.join(tempfile.mkdtemp(prefix="gilwatch-zarr-"), "data.zip")
    store = ZipStore(path, mode="w")
    arr = zarr.create_array(store, shape=(40,), chunks=(10,), dtype="f8")
    arr[:] = np.arange(40.0)
    store.close()
    sync.wait_for_go()
    print(read_chunk((path, 0)))  # the parent's own read: the I/O thread starts
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futures = [pool.submit(read_chunk, (path, i)) for i in range(4)]
        sync.report(main_tid=threading.get_native_id(), method=method)
        try:
            print([f.result(timeout=float(sys.argv[4]) if len(sys.argv) > 4 else 10)
                   for f in futures])
        except concurrent.futures.TimeoutError:
            for p in pool._processes.values():
                p.kill()
            os._exit(3)
