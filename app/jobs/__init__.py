"""Background jobs through rq.

With REDIS_URL set, jobs go to Redis for `rq worker`; without it (the embedded
default and unit tests) rq runs each job in-process as soon as it is enqueued.
Job functions take ids and plain values, push an app context when a worker
runs them, call the domain and commit.
"""
import functools

from flask import Flask, current_app, has_app_context
from rq import Queue

QUEUE_NAME = "portal"


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        from redis import Redis
        timeout = app.config.get("REDIS_SOCKET_TIMEOUT", 5)
        # Bounded waits so a lost Redis fails fast; the rq worker raises the read
        # timeout itself above its blocking dequeue wait. The health check
        # interval replaces connections that died while idle in the pool.
        connection = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                    health_check_interval=30)
        queue = Queue(QUEUE_NAME, connection=connection)
    else:
        from fakeredis import FakeStrictRedis
        queue = Queue(QUEUE_NAME, is_async=False, connection=FakeStrictRedis())
    app.extensions["rq_queue"] = queue


def get_queue() -> Queue:
    return current_app.extensions["rq_queue"]


def enqueue(func: str, *args, **kwargs):
    return get_queue().enqueue(func, *args, **kwargs)


def with_app_context(func):
    """A worker process has no app context; build one (once per process)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        with _worker_app().app_context():
            return func(*args, **kwargs)
    return wrapper


@functools.lru_cache(maxsize=1)
def _worker_app():
    from app import create_app
    return create_app()
