"""Background jobs through a real redis-server and a real rq worker process.

The worker is `flask --app wsgi worker --burst` in a subprocess with
PORTAL_ENV=production, as deployed; it shares the test's database (a SQLite
file, or the PostgreSQL database from TEST_DATABASE_URL).
"""
import os
import subprocess
import sys

from rq.job import JobStatus

from app.email import send_email
from app.extensions import db
from app.jobs import get_queue
from tests.factories import outbox
from tests.integration.conftest import ROOT

WORKER_TIMEOUT = 60  # seconds; a burst worker with one job takes about one


class User:
    full_name = "Amira Khan"


def run_worker(app, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ,
               PORTAL_ENV="production",
               SECRET_KEY="integration-test-secret",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"],
               EMAIL_BACKEND="outbox",
               STORAGE_BACKEND="local",
               PORTAL_INSTANCE_DIR=str(tmp_path / "instance"),
               STORAGE_DIR=str(tmp_path / "worker-documents"))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=WORKER_TIMEOUT)


def test_email_waits_in_redis_until_a_worker_delivers_it(rq_app, tmp_path):
    with rq_app.app_context():
        queue = get_queue()
        assert queue.is_async
        send_email("amira@example.com", "password_changed", user=User())

        [job] = queue.get_jobs()
        assert job.func_name == "app.jobs.email.deliver_email"
        assert job.get_status() == JobStatus.QUEUED
        assert outbox() == []
        # Nothing of this test's stays open on the database the worker writes to.
        db.session.remove()

        result = run_worker(rq_app, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

        assert job.get_status(refresh=True) == JobStatus.FINISHED
        assert queue.count == 0 and queue.failed_job_registry.count == 0
        [email] = outbox("amira@example.com")
        assert email.subject == "Your password has been changed"
        assert "Dear Amira Khan" in email.body and email.template == "password_changed"
        db.session.remove()


def test_a_failing_job_is_kept_as_failed_not_lost(rq_app, tmp_path):
    with rq_app.app_context():
        queue = get_queue()
        # A job that raises in the worker (here it names no function) stays in the
        # failed registry, to be looked at and requeued, and the worker carries on.
        job = queue.enqueue("app.jobs.email.no_such_job", "amira@example.com")
        result = run_worker(rq_app, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert job.get_status(refresh=True) == JobStatus.FAILED
        assert job.id in queue.failed_job_registry.get_job_ids()
        assert outbox() == []
        db.session.remove()


def test_health_check_reports_the_queue(rq_app, redis_server):
    client = rq_app.test_client()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}

    redis_server.stop()
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.get_json() == {"status": "error", "checks": {"database": "ok", "queue": "error"}}
