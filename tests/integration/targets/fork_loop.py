"""The zarr 3.0.1/3.0.2 hang, in miniature: a library runs its I/O on an
asyncio loop in a background thread; a ProcessPoolExecutor with the fork
start method copies the loop object into the child but not its thread, so
the child waits forever for a result only that thread could produce, and the
parent waits for the child. argv[3] is the start method (fork or spawn)."""
import asyncio
import concurrent.futures
import multiprocessing
import sys
import threading

import sync

_loop = None


def _io_loop():
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        threading.Thread(target=_loop.run_forever, name="io_loop", daemon=True).start()
    return _loop


async def _read(key):
    await asyncio.sleep(0)
    return len(key)


def read(key):
    """The library's synchronous API: runs the coroutine on the I/O loop."""
    return asyncio.run_coroutine_threadsafe(_read(key), _io_loop()).result()


def work(key):
    return read(key)


if __name__ == "__main__":
    method = sys.argv[3] if len(sys.argv) > 3 else "fork"
    sync.wait_for_go()
    read("warm-up")  # the parent starts the loop thread
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        future = pool.submit(work, "chunk")
        sync.report(main_tid=threading.get_native_id(), method=method)
        try:
            print(future.result(timeout=float(sys.argv[4]) if len(sys.argv) > 4 else 8))
        except concurrent.futures.TimeoutError:
            for p in pool._processes.values():
                p.kill()
            sys.exit(3)
