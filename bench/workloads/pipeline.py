"""(3) A pipeline-like service with a fixed amount of work (argv[3]
records): a feeder sends JSON lines through a socketpair; a reader thread
receives them and hands each over a queue.Queue to a thread pool; each
worker decodes the JSON, reads a 4 KiB block of a data file (pread), scores
the record and hands the result to a sink over a second queue; the sink
logs every result to a file with the logging module (workers log every 50th
record too); a status thread calls sys._current_frames() every second, as
Apache Beam's worker status does. Wall time is the measure."""
import concurrent.futures
import json
import logging
import os
import queue
import random
import shutil
import socket
import sys
import tempfile
import threading

import benchsync

WORKERS = 4
DATA_BYTES = 4 << 20
BLOCK = 4096

n = benchsync.scale()
tmpdir = tempfile.mkdtemp(prefix="gilwatch-bench-pipeline-")
try:
    data_path = os.path.join(tmpdir, "data.bin")
    rng = random.Random(7)
    with open(data_path, "wb") as f:
        f.write(rng.randbytes(DATA_BYTES))
    logger = logging.getLogger("service")
    handler = logging.FileHandler(os.path.join(tmpdir, "service.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    templates = [
        (json.dumps({"id": i, "user": "user-%d" % rng.randrange(10000),
                     "tags": ["t%d" % rng.randrange(50) for _ in range(rng.randrange(1, 8))],
                     "values": [rng.random() for _ in range(24)],
                     "nested": {"a": {"b": [1, 2, {"c": "x" * rng.randrange(10, 80)}]}},
                     }) + "\n").encode()
        for i in range(256)]

    with benchsync.Measure() as m:
        in_q = queue.Queue(maxsize=512)
        out_q = queue.Queue(maxsize=512)
        stop = threading.Event()
        tx, rx = socket.socketpair()

        def feeder():
            batch = []
            for i in range(n):
                batch.append(templates[i % len(templates)])
                if len(batch) == 64:
                    tx.sendall(b"".join(batch))
                    batch = []
            if batch:
                tx.sendall(b"".join(batch))
            tx.shutdown(socket.SHUT_WR)

        def reader():
            with rx.makefile("rb") as f:
                for seq, line in enumerate(f):
                    in_q.put((seq, line))
            for _ in range(WORKERS):
                in_q.put(None)

        def worker():
            fd = os.open(data_path, os.O_RDONLY)
            try:
                while True:
                    item = in_q.get()
                    if item is None:
                        out_q.put(None)
                        return
                    seq, line = item
                    rec = json.loads(line)
                    block = os.pread(fd, BLOCK, (seq * BLOCK) % DATA_BYTES)
                    score = sum(rec["values"]) * len(rec["tags"]) + block[seq % BLOCK]
                    if seq % 50 == 0:
                        logger.info("worker: record %d user %s", seq, rec["user"])
                    out_q.put((seq, rec["user"], score))
            finally:
                os.close(fd)

        def sink(result):
            ended = done = 0
            while ended < WORKERS:
                item = out_q.get()
                if item is None:
                    ended += 1
                    continue
                seq, user, score = item
                logger.info("done %d for %s: %.3f", seq, user, score)
                done += 1
            result.append(done)

        def status():
            while not stop.wait(1.0):
                frames = sys._current_frames()
                logger.info("status: %d threads", len(frames))
                m.facts["status_calls"] = m.facts.get("status_calls", 0) + 1

        done = []
        threads = [threading.Thread(target=f, args=a) for f, a in
                   ((feeder, ()), (reader, ()), (sink, (done,)), (status, ()))]
        for t in threads:
            t.start()
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(worker) for _ in range(WORKERS)]
            for fut in futures:
                fut.result()
        for t in threads[:3]:
            t.join()
        stop.set()
        threads[3].join()
        tx.close()
        rx.close()
        if done != [n]:
            sys.exit("pipeline: %s records of %d" % (done, n))
        m.facts["records"] = n
finally:
    shutil.rmtree(tmpdir, ignore_errors=True)
