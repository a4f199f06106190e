"""evalsite/gunicorn_conf.py plus one line per request in the worker: method, path, wall seconds from
gunicorn's parsing of the request to the last byte written, and the CPU seconds of the thread that served it in
between; for benchmarks/rater_load.py only (``REQUEST_TIMING_DIR``, a file per worker). What a client
measured beyond that wall time waited in the listen backlog for a free worker (or in the client)."""

import os
import time

from evalsite.gunicorn_conf import *  # noqa: F403 - the production settings, unchanged

_files: dict[int, object] = {}


def pre_request(worker, req) -> None:
    req.timing_started = (time.monotonic(), time.thread_time())


def post_request(worker, req, environ, resp) -> None:
    wall, cpu = req.timing_started
    pid = os.getpid()
    if pid not in _files:
        _files[pid] = open(  # noqa: SIM115 - open for the worker's life, closed when it exits
            os.path.join(os.environ["REQUEST_TIMING_DIR"], f"{pid}.tsv"), "a", buffering=1
        )
    _files[pid].write(
        f"{req.method}\t{req.path}\t{time.monotonic() - wall:.6f}\t{time.thread_time() - cpu:.6f}\n"
    )
