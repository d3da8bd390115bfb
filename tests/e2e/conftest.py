"""Browser tests: a real Chromium against the app served from a thread.

Each test process (each pytest-xdist worker) that runs browser tests serves its
own copy of the app on 127.0.0.1 with its own SQLite file, built by the
migrations and holding the demo DPS. The app object here is not the `app`
fixture of tests/conftest.py, so the per-test table cleanup never touches this
database: browser tests create their own users with unique email addresses.
CSRF protection is on, as in production.
"""
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from config import TestConfig

# CI runs the browser tests beside the rest of the suite on two CPUs: a page
# can take seconds there, so assertions wait up to 15 s (Playwright's default
# is 5 s) before failing. A passing run does not wait any longer for it.
expect.set_options(timeout=15_000)

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium; `playwright install` cannot download a browser here. The
# background-networking flags stop Chromium calling out to the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # Every test in this folder is a browser test; `--dist loadgroup` then
    # keeps them on one xdist worker, so only one Chromium and one server start.
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))


@dataclass
class LiveServer:
    app: Flask
    url: str


@pytest.fixture(scope="session")
def live_app(tmp_path_factory) -> Flask:
    root = tmp_path_factory.mktemp("e2e")
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{root / 'e2e.db'}"
    config.STORAGE_DIR = str(root / "documents")
    config.WTF_CSRF_ENABLED = True
    app = create_app(config)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        from app.demo import build_dps
        build_dps()
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(live_app) -> LiveServer:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    yield LiveServer(app=live_app, url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    # pytest-playwright gives every browser context this base URL, so tests
    # can write page.goto("/sign-in").
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: no Chromium at {CHROMIUM}")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": CHROMIUM_ARGS}
