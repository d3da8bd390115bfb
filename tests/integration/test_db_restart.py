"""The database restarts under a running portal: requests fail cleanly (a
GOV.UK 503 page, never a stack trace, nothing half-saved) and the same app,
not restarted, works again as soon as PostgreSQL is back.

The test starts its own PostgreSQL (not the TEST_DATABASE_URL one, which the
other tests share) in a temporary folder on a free loopback port, so it can
stop and start it. Skipped without the PostgreSQL server binaries, except in
CI (where scripts/_common.sh installs them), where that is a failure.
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.domain import applications as rules
from app.domain.states import Role
from app.extensions import db
from app.models import QualityAnswer
from config import TestConfig
from tests.factories import login, make_provider, make_user
from tests.integration.conftest import free_port, migrate

SORRY = "Sorry, there is a problem with the service"


def postgresql_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    reason = "PostgreSQL server binaries are not installed"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI must run the database restart test", pytrace=False)
    pytest.skip(f"{reason} (scripts/test.sh installs them)")


class ThrowawayPostgres:
    """A private PostgreSQL cluster that a test may stop and start again."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        # Not under pytest's tmp folder: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-restart."))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")  # initdb refuses root
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_postgres, str(self.bindir / tool), *args],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = (self.root / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{tool} failed: {result.stdout}{result.stderr}{tail}", pytrace=False)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  # fsync=off is safe here (the OS keeps what a killed server wrote),
                  # synchronous_commit=off is not: a crash would lose acknowledged commits.
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                        "-c fsync=off -c full_page_writes=off",
                  "start")

    def stop(self) -> None:
        # Immediate: connections are cut as in a crash, not closed politely.
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        subprocess.run([*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    server = ThrowawayPostgres(postgresql_bin())
    try:
        server.start()
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "portal_restart"'))
        admin.dispose()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def restart_app(postgres, tmp_path_factory):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = postgres.url("portal_restart")
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("restart-documents"))
    config.DATABASE_CONNECT_TIMEOUT = 2
    app = create_app(config)
    migrate(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def draft(restart_app):
    """A provider user with a draft application, signed in."""
    from app.demo import build_dps
    from tests.factories_evaluation import ctx_for
    with restart_app.app_context():
        dps = build_dps()
        db.session.commit()
        provider = make_provider()
        user = make_user(Role.PROVIDER_ADMIN, provider)
        lot = dps.lots[0]
        application = rules.start_application(ctx_for(user), provider, user, [lot], rules.today())
        db.session.commit()
        ids = {"user": user, "application": application.id,
               "questions": [q.id for q in lot.quality_questions]}
        client = restart_app.test_client()
        login(client, user)
        db.session.remove()
    return client, ids


def save_answer(client, ids: dict, text: str):
    app_id = ids["application"]
    with client.application.app_context():
        version = db.session.execute(sa.text("SELECT version FROM applications WHERE id = :i"),
                                     {"i": app_id}).scalar()
        db.session.remove()
    return client.post(f"/applications/{app_id}/quality",
                       data={"version": version, **answers(ids, text)})


def answers(ids: dict, text: str) -> dict:
    return {f"answer_{q}": f"{text} ({n})" for n, q in enumerate(ids["questions"])}


def saved_answers(app) -> list[str]:
    with app.app_context():
        answers = db.session.execute(sa.select(QualityAnswer.answer)).scalars().all()
        db.session.remove()
    return answers


def test_requests_fail_cleanly_while_the_database_restarts_and_then_recover(
        postgres, restart_app, draft):
    client, ids = draft
    app_id = ids["application"]
    assert client.get("/applications/").status_code == 200
    assert save_answer(client, ids, "Before the restart.").status_code == 303

    postgres.stop()
    try:
        for path in ("/applications/", f"/applications/{app_id}", "/"):
            r = client.get(path)
            assert r.status_code == 503, path
            page = r.get_data(as_text=True)
            assert SORRY in page and "Try again later." in page
            assert "Traceback" not in page and "psycopg" not in page
            assert r.headers["Retry-After"] == "30"
        # Writing fails the same way, and nothing of it is kept (checked below).
        r = client.post(f"/applications/{app_id}/quality",
                        data={"version": 1, **answers(ids, "During the outage.")})
        assert r.status_code == 503 and SORRY in r.get_data(as_text=True)
        # An htmx request reloads the page, which then shows the message.
        r = client.get(f"/applications/{app_id}", headers={"HX-Request": "true"})
        assert r.status_code == 503 and r.headers["HX-Refresh"] == "true"
        # A load balancer's probe, without a session.
        health = restart_app.test_client().get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["checks"]["database"] == "error"
    finally:
        postgres.start()

    # The same app, never restarted: its pool replaces the dead connections.
    assert client.get("/applications/").status_code == 200
    assert restart_app.test_client().get("/healthz").status_code == 200
    assert save_answer(client, ids, "After the restart.").status_code == 303
    assert set(saved_answers(restart_app)) == set(answers(ids, "After the restart.").values())


def test_connections_cut_while_idle_are_replaced_without_an_error(postgres, restart_app, draft):
    client, ids = draft
    assert client.get("/applications/").status_code == 200
    # Every pooled connection killed behind the app's back, as a failover does.
    admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'portal_restart' AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert killed >= 1
    for _ in range(3):
        assert client.get("/applications/").status_code == 200
    assert save_answer(client, ids, "After the failover.").status_code == 303
    assert set(saved_answers(restart_app)) == set(answers(ids, "After the failover.").values())
