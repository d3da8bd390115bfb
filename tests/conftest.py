"""Shared fixtures.

The schema is built once per test process by running the migrations (so the
migrations are what the tests exercise), on SQLite by default or on the
PostgreSQL server named by TEST_DATABASE_URL. Each pytest-xdist worker gets
its own database. After every test all rows are deleted, the append-only
audit trail's included: its guard is lifted for that one transaction only
(app.backup.audit_guard_lifted), never for the code under test.
"""
import os

import pytest
import sqlalchemy as sa

from app import create_app
from app.backup import delete_all_rows
from app.extensions import db
from config import TestConfig


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _database_url(tmp_path_factory) -> str:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    # One database per xdist worker on the shared server, created fresh.
    url = sa.engine.make_url(base)
    name = f"{url.database}_{_worker()}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = _database_url(tmp_path_factory)
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("documents"))
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            delete_all_rows(conn)


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app_ctx):
    return app_ctx.test_client()


@pytest.fixture
def dps(app_ctx):
    from app.demo import build_dps
    dps = build_dps()
    db.session.commit()
    return dps
