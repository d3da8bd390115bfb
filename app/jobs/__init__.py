"""Background jobs through rq.

With REDIS_URL set, jobs go to Redis for `rq worker`; without it (the embedded
default and unit tests) rq runs each job in-process as soon as it is enqueued.
Job functions take ids and plain values, push an app context when a worker
runs them, call the domain and commit.

A job that cannot be queued because Redis is unreachable is kept in the
database (DeferredJob) and queued later by `flask worker` when it starts and
by `flask requeue-deferred` (cron), so an outage delays jobs but loses none.
"""
import functools
import logging

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

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
    """Queue `func(*args)`; returns the rq job, or None when Redis could not be
    reached and the job was kept in the database instead. Call after the
    commit the job depends on."""
    try:
        return get_queue().enqueue(func, *args, **kwargs)
    except RedisError as exc:
        _defer(func, args, kwargs, exc)
        return None


def _defer(func: str, args: tuple, kwargs: dict, exc: Exception) -> None:
    from app.extensions import db
    from app.models import DeferredJob
    # Its own transaction on its own connection: the caller's session (and
    # whatever it has pending) is left alone, and the job is durable at once.
    with db.engine.begin() as conn:
        conn.execute(sa.insert(DeferredJob).values(
            func=func, args=list(args), kwargs=kwargs, error=f"{type(exc).__name__}: {exc}"))
    log.warning("Redis unreachable (%s): job %s kept in the database to be queued later",
                exc, func)


def requeue_deferred_jobs() -> tuple[int, int]:
    """Queue the deferred jobs, oldest first; returns (queued, still waiting).

    Each is deleted and queued in one transaction, so a job that Redis still
    refuses stays, and two requeuers never both queue the same one (the second
    finds it gone). Stops at the first refusal: Redis is still unreachable.
    """
    from app.extensions import db
    from app.models import DeferredJob
    table = DeferredJob.__table__
    queue = get_queue()
    queued, last_id = 0, 0
    while True:
        try:
            with db.engine.begin() as conn:
                next_id = conn.execute(sa.select(table.c.id).where(table.c.id > last_id)
                                       .order_by(table.c.id).limit(1)).scalar()
                if next_id is None:
                    break
                last_id = next_id
                row = conn.execute(table.delete().where(table.c.id == next_id)
                                   .returning(table.c.func, table.c.args, table.c.kwargs)).first()
                if row is None:
                    continue  # another requeuer took it
                # Raising rolls the delete back: the job stays deferred.
                queue.enqueue(row.func, *row.args, **row.kwargs)
        except RedisError as exc:
            log.warning("Redis still unreachable (%s): deferred jobs wait", exc)
            break
        queued += 1
    with db.engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return queued, left


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
