"""Redis goes away: the portal keeps serving and no background job is lost.

A job that cannot be queued is kept in the database (deferred_jobs); `flask
worker` queues those when it starts and `flask requeue-deferred` (cron) at
any time. Against a real redis-server that the tests stop and start again on
the same port, and real `flask` subprocesses, as deployed.
"""
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from app import create_app
from app.domain.states import JobStatus, Role
from app.email import send_email
from app.extensions import db
from app.jobs import get_queue
from app.jobs import compliance as compliance_jobs
from app.models import DeferredJob, JobRun
from config import TestConfig
from tests.factories import login, make_provider, make_user, outbox
from tests.integration.conftest import (ROOT, START_TIMEOUT, _redis_answers, database_url,
                                        delete_all_rows, dispose, migrate)

COMMAND_TIMEOUT = 60  # seconds; each command takes one or two


@pytest.fixture(scope="module")
def deferred_database(tmp_path_factory) -> str:
    url = database_url(tmp_path_factory, "deferred")
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = url
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("deferred-documents"))
    app = create_app(config)
    migrate(app)
    dispose(app)
    return url


class RestartableRedis:
    """The redis_server fixture's server, which can come back on its port."""

    def __init__(self, redis_server):
        self.server = redis_server.server
        self.command = self.server.process.args

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.port}/0"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        import time
        with open(self.server.log, "ab") as out:
            self.server.process = subprocess.Popen(self.command, stdout=out,
                                                   stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not _redis_answers(self.server.port, self.server.process.pid):
            if time.monotonic() > deadline or self.server.process.poll() is not None:
                pytest.fail("redis-server did not start again on its port", pytrace=False)
            time.sleep(0.02)


@pytest.fixture
def redis(redis_server):
    return RestartableRedis(redis_server)


@pytest.fixture
def jobs_app(deferred_database, redis, tmp_path):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = deferred_database
    config.STORAGE_DIR = str(tmp_path / "documents")
    config.REDIS_URL = redis.url
    # Fail fast on the stopped server, as production's 5 s would, only sooner.
    config.REDIS_SOCKET_TIMEOUT = 1
    app = create_app(config)
    yield app
    delete_all_rows(app)
    dispose(app)


def flask_command(app, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ,
               PORTAL_ENV="production",
               SECRET_KEY="integration-test-secret",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"],
               REDIS_SOCKET_TIMEOUT="1",
               EMAIL_BACKEND="outbox",
               STORAGE_BACKEND="local",
               PORTAL_INSTANCE_DIR=str(tmp_path / "instance"),
               STORAGE_DIR=app.config["STORAGE_DIR"])
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)


def deferred() -> list[DeferredJob]:
    db.session.expire_all()
    return db.session.execute(sa.select(DeferredJob).order_by(DeferredJob.id)).scalars().all()


class Person:
    full_name = "Amira Khan"


def test_an_email_sent_while_redis_is_down_is_delivered_when_the_worker_starts(
        jobs_app, redis, tmp_path):
    with jobs_app.app_context():
        provider = make_provider()
        user = make_user(Role.PROVIDER_ADMIN, provider)
        client = jobs_app.test_client()
        login(client, user)
        db.session.remove()

        redis.stop()
        # The web keeps working...
        assert client.get("/applications/").status_code == 200
        assert client.get("/evidence/").status_code == 200
        # ...and the email is kept, not lost.
        send_email("amira@example.com", "password_changed", user=Person())
        [job] = deferred()
        assert job.func == "app.jobs.email.deliver_email"
        assert job.args[0] == "amira@example.com"
        assert "ConnectionError" in job.error
        assert outbox() == []
        db.session.remove()

        redis.start()
        result = flask_command(jobs_app, tmp_path, "worker", "--burst")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 deferred jobs queued; 0 still waiting." in result.stdout
        [email] = outbox("amira@example.com")
        assert email.subject == "Your password has been changed"
        assert "Dear Amira Khan" in email.body
        assert deferred() == []
        db.session.remove()


def test_a_compliance_job_started_while_redis_is_down_waits_and_then_runs(
        jobs_app, redis, tmp_path):
    with jobs_app.app_context():
        manager = make_user(Role.MANAGER)
        client = jobs_app.test_client()
        login(client, manager)
        db.session.remove()

        redis.stop()
        r = client.post("/staff/compliance/jobs/expiry-check")
        assert r.status_code == 303
        job_page = client.get(r.headers["Location"])
        assert job_page.status_code == 200
        [run] = db.session.execute(sa.select(JobRun)).scalars().all()
        # Queued, not failed: it is waiting in the database for Redis.
        assert run.status is JobStatus.QUEUED and run.error is None
        [job] = deferred()
        assert job.func == compliance_jobs.FUNCTIONS[compliance_jobs.EXPIRY_CHECK]
        assert job.args == [run.id] and job.kwargs == {
            "job_timeout": compliance_jobs.JOB_TIMEOUT_SECONDS}
        db.session.remove()

        # The cron command says it could not queue it, and keeps it.
        result = flask_command(jobs_app, tmp_path, "requeue-deferred")
        assert result.returncode == 1
        assert "0 deferred jobs queued; 1 still waiting." in result.stdout
        assert len(deferred()) == 1
        db.session.remove()

        redis.start()
        result = flask_command(jobs_app, tmp_path, "requeue-deferred")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 deferred jobs queued; 0 still waiting." in result.stdout
        assert deferred() == [] and get_queue().count == 1
        # Running it again queues nothing twice.
        result = flask_command(jobs_app, tmp_path, "requeue-deferred")
        assert "0 deferred jobs queued; 0 still waiting." in result.stdout
        assert get_queue().count == 1
        db.session.remove()

        result = flask_command(jobs_app, tmp_path, "worker", "--burst")
        assert result.returncode == 0, result.stdout + result.stderr
        db.session.expire_all()
        run = db.session.get(JobRun, run.id)
        assert run.status is JobStatus.FINISHED, run.error
        db.session.remove()


def test_jobs_are_queued_in_the_order_they_were_deferred(jobs_app, redis):
    with jobs_app.app_context():
        redis.stop()
        for n in range(3):
            send_email(f"person{n}@example.com", "password_changed", user=Person())
        assert [j.args[0] for j in deferred()] == [f"person{n}@example.com" for n in range(3)]
        db.session.remove()
        redis.start()
        from app.jobs import requeue_deferred_jobs
        assert requeue_deferred_jobs() == (3, 0)
        queued = get_queue().get_jobs()
        assert [j.args[0] for j in queued] == [f"person{n}@example.com" for n in range(3)]
        db.session.remove()
