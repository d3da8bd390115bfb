"""Guessing passwords: rate limits per client address, and a lockout per
email address that behaves the same whether or not an account exists."""
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from app.auth.throttling import limiter
from app.domain import accounts
from app.models import AuditEvent, utcnow
from app.models.user import SignInThrottle
from tests.factories import PASSWORD, make_user, outbox

WRONG = "not the right password"
LOCKED = "too many attempts to sign in with this email address"


def _sign_in(client, email, password=WRONG, **kwargs):
    return client.post("/sign-in", data={"email": email, "password": password}, **kwargs)


def _answers(client, email, n):
    """(status, which message) for n wrong passwords in a row."""
    out = []
    for _ in range(n):
        html = _sign_in(client, email).get_data(as_text=True)
        out.append(LOCKED if LOCKED in html else
                   "wrong" if "Enter a correct email address and password" in html else html)
    return out


@pytest.fixture
def rate_limits(app, monkeypatch):
    """The limits are off for the rest of the suite; on, with clean counts, here."""
    monkeypatch.setitem(app.config, "RATE_LIMITS_ENABLED", True)
    limiter.reset()
    yield
    limiter.reset()


def test_ten_failures_lock_an_account_even_against_the_right_password(client, app_ctx):
    user = make_user(email="known@example.com")
    assert _answers(client, "known@example.com", 10) == ["wrong"] * 9 + [LOCKED]
    r = _sign_in(client, "Known@Example.com ", PASSWORD)
    assert r.status_code == 429 and LOCKED in r.get_data(as_text=True)
    assert client.get("/account").status_code == 302
    locked = AuditEvent.query.filter_by(action="account.locked_out").one()
    assert locked.after["user_id"] == user.id and locked.ip_address == "127.0.0.1"
    assert AuditEvent.query.filter_by(action="account.sign_in_failed").count() == 10


def test_existing_and_unknown_addresses_get_identical_answers(app, app_ctx):
    make_user(email="known@example.com")
    known, unknown = app.test_client(), app.test_client()
    seq_known = [(r.status_code, LOCKED in r.get_data(as_text=True))
                 for r in (_sign_in(known, "known@example.com") for _ in range(11))]
    seq_unknown = [(r.status_code, LOCKED in r.get_data(as_text=True))
                   for r in (_sign_in(unknown, "nobody@example.com") for _ in range(11))]
    assert seq_known == seq_unknown == [(400, False)] * 9 + [(429, True)] * 2
    # The table of failures names no address.
    keys = [row.key_hash for row in SignInThrottle.query.all()]
    assert len(keys) == 2 and not any("example" in key for key in keys)


def test_the_password_hash_is_always_computed(client, app_ctx, monkeypatch):
    """So the time taken does not tell whether an account exists."""
    make_user(email="known@example.com")
    calls = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash",
                        lambda stored, password: calls.append(1) or real(stored, password))
    for email in ("known@example.com", "nobody@example.com"):
        calls.clear()
        _sign_in(client, email)
        assert len(calls) == 1, email
    for _ in range(10):
        _sign_in(client, "nobody@example.com")
    calls.clear()
    assert _sign_in(client, "nobody@example.com").status_code == 429
    assert len(calls) == 1  # locked, and still hashed


def test_the_lock_lifts_after_fifteen_minutes(client, app_ctx):
    make_user(email="known@example.com")
    _answers(client, "known@example.com", 10)
    with time_machine.travel(utcnow() + timedelta(minutes=14), tick=False):
        assert _sign_in(client, "known@example.com", PASSWORD).status_code == 429
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        assert _sign_in(client, "known@example.com", PASSWORD).status_code == 303


def test_failures_spread_over_more_than_the_window_do_not_lock(client, app_ctx):
    make_user(email="known@example.com")
    assert _answers(client, "known@example.com", 9) == ["wrong"] * 9
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        assert _answers(client, "known@example.com", 9) == ["wrong"] * 9
        assert _sign_in(client, "known@example.com", PASSWORD).status_code == 303


def test_a_successful_sign_in_clears_earlier_failures(app, client, app_ctx):
    make_user(email="known@example.com")
    _answers(client, "known@example.com", 9)
    assert _sign_in(client, "known@example.com", PASSWORD).status_code == 303
    assert _answers(app.test_client(), "known@example.com", 9) == ["wrong"] * 9


def test_resetting_the_password_lifts_the_lock(client, app_ctx):
    make_user(email="known@example.com")
    _answers(client, "known@example.com", 10)
    client.post("/forgot-password", data={"email": "known@example.com"})
    link = outbox("known@example.com")[-1].body.split("http://localhost")[1].split()[0]
    new = "a fresh memorable passphrase"
    assert client.post(link, data={"password": new, "confirm": new}).status_code == 303
    assert _sign_in(client, "known@example.com", new).status_code == 303


def test_sign_in_is_rate_limited_per_address(app, rate_limits, app_ctx):
    client = app.test_client()
    for n in range(10):
        # Different email addresses each time: the account lockout never applies.
        assert _sign_in(client, f"guess{n}@example.com").status_code == 400
    r = _sign_in(client, "guess10@example.com")
    html = r.get_data(as_text=True)
    assert r.status_code == 429 and "Sorry, there have been too many attempts" in html
    assert "govuk-template" in html and int(r.headers["Retry-After"]) > 0
    # Reading the page is not limited; another address is not affected.
    assert client.get("/sign-in").status_code == 200
    other = _sign_in(client, "guess@example.com", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 400


@pytest.mark.parametrize("url,data,allowed", [
    ("/forgot-password", {"email": "someone@example.com"}, 5),
    ("/register", {"full_name": "A", "email": "not-an-email", "password": "x", "confirm": "x"}, 5),
    ("/confirm/resend", {"email": "someone@example.com"}, 5),
])
def test_password_reset_and_registration_are_rate_limited(app, rate_limits, app_ctx,
                                                          url, data, allowed):
    client = app.test_client()
    statuses = [client.post(url, data=data).status_code for _ in range(allowed + 1)]
    assert 429 not in statuses[:allowed] and statuses[-1] == 429


def test_second_factor_codes_are_rate_limited(app, rate_limits, app_ctx):
    from app.domain.states import Role
    user = make_user(role=Role.EVALUATOR)
    client = app.test_client()
    _sign_in(client, user.email, PASSWORD)
    # Malformed codes: refused by the form, so only the rate limit stops them.
    answers = [client.post("/sign-in/second-factor/set-up", data={"code": "12"})
               for _ in range(11)]
    assert [r.status_code for r in answers] == [400] * 10 + [429]
    assert "Sorry, there have been too many attempts" in answers[-1].get_data(as_text=True)


def test_rate_limits_keep_working_when_redis_is_unreachable(tmp_path):
    """Counts fall back to memory: people can still sign in, nobody gets a 500.
    In a separate process, as the limiter is shared by every app in this one."""
    script = f"""
import os
from config import TestConfig
from app import create_app
config = TestConfig()
config.SQLALCHEMY_DATABASE_URI = "sqlite:///{tmp_path / 'x.db'}"
config.RATE_LIMITS_ENABLED = True
config.RATELIMIT_STORAGE_URI = "redis://127.0.0.1:9/0"
config.RATELIMIT_STORAGE_OPTIONS = {{"socket_timeout": 0.5, "socket_connect_timeout": 0.5}}
app = create_app(config)
with app.app_context():
    from app.extensions import db
    db.create_all()
    client = app.test_client()
    codes = [client.post("/forgot-password", data={{"email": "a@example.com"}}).status_code
             for _ in range(6)]
    print(codes)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PORTAL_ENV": "test"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[200, 200, 200, 200, 200, 429]"
