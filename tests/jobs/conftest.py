import os
import time
from contextlib import contextmanager

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from kombu import Exchange, Queue

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _runs_and_media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.COUNTERPOINT = {**settings.COUNTERPOINT, "RUNS_DIR": tmp_path / "runs"}


@pytest.fixture
def redis_broker():
    """The project's Celery app pointed at a real Redis database, emptied before and after."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not running at {REDIS_URL} (scripts/setup.sh starts it)")
    from evalsite.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url, app.conf.broker_transport_options = REDIS_URL, {}
    app._pool = None
    client.flushdb()
    # Emptying the database also drops kombu's queue bindings; declare the queues again so no message
    # published before the worker has declared them is routed nowhere.
    with app.connection_for_write() as connection:
        for name in ("gpu", "default"):
            Queue(name, Exchange(name, type="direct"), routing_key=name).bind(
                connection.default_channel
            ).declare()
    yield app
    client.flushdb()
    app.conf.broker_url, app.conf.broker_transport_options = saved
    app._pool = None


@pytest.fixture(scope="session")
def tiny_checkpoint_name(tmp_path_factory):
    """A tiny base model trained by the project's own pretrain (seconds), as a checkpoint file name."""
    import torch

    from generation.train import PRESETS, pretrain

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-checkpoints")
    pretrain(PRESETS["tiny"], folder / "tiny-test.pt", corpus_cache=None)
    return folder / "tiny-test.pt"


@pytest.fixture
def tiny_checkpoint(tiny_checkpoint_name, settings):
    """The tiny checkpoint placed where jobs look for checkpoints: RUNS_DIR/checkpoints/."""
    target = settings.COUNTERPOINT["RUNS_DIR"] / "checkpoints" / "tiny-test.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tiny_checkpoint_name.read_bytes())
    return target.name


@contextmanager
def running_worker(app):
    """A real Celery worker in a thread, consuming the gpu and default queues once it answers a ping.

    Waiting for the ping keeps the first message away from a worker still starting up (it would sit
    unacknowledged until Redis' visibility timeout).
    """
    with start_worker(
        app, queues=["gpu", "default"], perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise AssertionError("the test worker did not answer a ping within 30 s")
        yield worker
