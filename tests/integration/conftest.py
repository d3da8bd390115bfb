"""Integration tests against real local servers: an S3-compatible server
(moto_server) and redis-server, each started by the test process that needs it
on a free loopback port and stopped in teardown. Under pytest-xdist every
worker starts its own.

Without a server binary the tests are skipped with the reason, except in CI
(the CI variable is set), where a missing server is a failure: CI must prove
these paths.

The apps built here are not the `app` fixture of tests/conftest.py (whose
per-test cleanup would not reach them): each module gets its own database,
built by the migrations, and its tests delete their rows afterwards.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from config import TestConfig

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = str(ROOT / "migrations")
# Upper bound for a server to start answering; it normally takes well under 1 s.
START_TIMEOUT = 15.0
POLL = 0.02


def require_executable(name: str) -> str:
    """The path of a server binary: the virtualenv's own first, then PATH."""
    local = Path(sys.executable).parent / name
    path = str(local) if local.exists() else shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI must run the integration tests", pytrace=False)
    pytest.skip(f"{reason} (scripts/test.sh installs it); integration test skipped")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(command, ready, log_dir: Path, name: str) -> Server:
    """Start `command(port)` on a free port and wait until `ready(port, pid)` is true.

    Another process may take the port between choosing and binding it, so a
    server that exits at start is tried again on a new port (three times).
    """
    for _ in range(3):
        port = free_port()
        log = log_dir / f"{name}-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(command(port), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=log_dir)
        server = Server(process, port, log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if ready(port, process.pid) and process.poll() is None:
                return server
            try:
                # Waiting on the process is the poll interval, and notices an early exit.
                process.wait(timeout=POLL)
                break
            except subprocess.TimeoutExpired:
                pass
        server.stop()
        if process.returncode not in (None, 0) and time.monotonic() < deadline:
            continue  # exited at start, probably the port: try another
        break
    output = log.read_text(errors="replace")[-2000:]
    pytest.fail(f"{name} did not start on 127.0.0.1:{port}:\n{output}", pytrace=False)


def _http_answers(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False


def _redis_answers(port: int, pid: int) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        # Ours, not another test process's server that won the port.
        return client.info("server")["process_id"] == pid
    except (RedisError, OSError):
        return False
    finally:
        client.close()


# --- S3 -------------------------------------------------------------------------

S3_BUCKET = "portal-documents-test"
S3_REGION = "eu-west-2"


@pytest.fixture(scope="session")
def aws_environment():
    """Dummy credentials in the standard variables (the way production gets
    real ones), and nothing read from a developer's ~/.aws."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory, aws_environment) -> str:
    """moto's standalone server (S3-compatible, in memory), with the bucket made."""
    moto_server = require_executable("moto_server")
    server = start_server(lambda port: [moto_server, "-H", "127.0.0.1", "-p", str(port)],
                          _http_answers, tmp_path_factory.mktemp("moto"), "moto_server")
    endpoint = f"http://127.0.0.1:{server.port}"
    try:
        from app.storage import make_s3_client
        make_s3_client(endpoint_url=endpoint, region=S3_REGION).create_bucket(
            Bucket=S3_BUCKET, CreateBucketConfiguration={"LocationConstraint": S3_REGION})
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):
    from app.storage import make_s3_client
    return make_s3_client(endpoint_url=s3_endpoint, region=S3_REGION)


# --- Redis ------------------------------------------------------------------------

@dataclass
class RedisServer:
    server: Server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.port}/0"

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def redis_server(tmp_path_factory):
    """A fresh redis-server for each test (it starts in well under 0.1 s), so a
    test may stop it. No persistence: nothing is written to disk."""
    redis_bin = require_executable("redis-server")
    workdir = tmp_path_factory.mktemp("redis")
    server = start_server(
        lambda port: [redis_bin, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                      "--appendonly", "no", "--dir", str(workdir)],
        _redis_answers, workdir, "redis-server")
    try:
        yield RedisServer(server)
    finally:
        server.stop()


# --- databases and apps -------------------------------------------------------------

def database_url(tmp_path_factory, name: str) -> str:
    """A new database, separate from the one tests/conftest.py builds: a SQLite
    file (which a worker subprocess can share), or one more database on the
    PostgreSQL server named by TEST_DATABASE_URL."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path_factory.mktemp(name) / 'test.db'}"
    url = sa.engine.make_url(base)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    db_name = f"{url.database}_{worker}_{name}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()
    return url.set(database=db_name).render_as_string(hide_password=False)


def migrate(app) -> None:
    from flask_migrate import upgrade
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.session.remove()


def delete_all_rows(app) -> None:
    from app.backup import delete_all_rows as delete_every_row  # the audit trail's too
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            delete_every_row(conn)


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# A database and an app on a real Redis, for the tests that run a worker
# process (tests/integration/test_*_worker.py, test_compliance_jobs.py).
@pytest.fixture(scope="module")
def jobs_database(tmp_path_factory) -> str:
    url = database_url(tmp_path_factory, "rq")
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = url
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("rq-documents"))
    app = create_app(config)
    migrate(app)
    dispose(app)
    return url


@pytest.fixture
def rq_app(jobs_database, redis_server, tmp_path):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = jobs_database
    config.STORAGE_DIR = str(tmp_path / "documents")
    config.REDIS_URL = redis_server.url
    app = create_app(config)
    yield app
    delete_all_rows(app)
    dispose(app)
