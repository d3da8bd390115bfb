"""Sessions end after inactivity, start afresh at every sign-in, and travel
in cookies that scripts cannot read and other sites cannot send."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from app import create_app
from app.domain.states import Role
from config import ProductionConfig
from tests.factories import PASSWORD, login, make_provider, make_user


@pytest.fixture(autouse=True)
def _production_idle_time(app, monkeypatch):
    """TestConfig switches the idle timeout off for the tests that move the
    clock by days; these tests check the real default."""
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 30)


def _later(minutes: int):
    return time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=minutes), tick=False)


@pytest.mark.parametrize("role", [Role.PROVIDER_ADMIN, Role.EVALUATOR])
def test_a_session_idle_for_thirty_minutes_ends(client, app_ctx, role):
    user = make_user(role=role, provider=make_provider() if role.is_provider else None)
    login(client, user)
    assert client.get("/account").status_code == 200
    with _later(29):
        assert client.get("/account").status_code == 200
    with _later(29 + 31):
        r = client.get("/account")
        assert r.status_code == 302 and "/sign-in?next=/account" in r.headers["Location"]
        html = client.get(r.headers["Location"]).get_data(as_text=True)
        assert "You were signed out because you had not done anything for 30 minutes" in html
        assert client.get("/account").status_code == 302  # really signed out


def test_activity_keeps_a_session_going(client, app_ctx):
    login(client, make_user())
    for minutes in (20, 40, 60, 80):
        with _later(minutes):
            assert client.get("/account").status_code == 200


def test_the_idle_time_is_configurable(app, client, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    login(client, make_user())
    client.get("/account")
    with _later(6):
        assert client.get("/account").status_code == 302


def test_an_idle_htmx_request_is_sent_to_sign_in_as_a_whole_page(client, app_ctx):
    login(client, make_user())
    client.get("/account")
    with _later(31):
        r = client.get("/account", headers={"HX-Request": "true"})
        assert r.status_code == 204 and "/sign-in" in r.headers["HX-Redirect"]


def test_signing_in_starts_a_fresh_session(client, app_ctx):
    """Nothing planted in the session before sign-in survives it (no fixation)."""
    user = make_user(email="amira@example.com")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_id"] = "fixed-identifier"
    r = client.post("/sign-in", data={"email": "amira@example.com", "password": PASSWORD})
    assert r.status_code == 303
    with client.session_transaction() as session:
        assert "planted" not in session and session.get("_id") != "fixed-identifier"
        assert session["_user_id"] == user.get_id()


def test_signing_out_clears_the_session(client, app_ctx):
    login(client, make_user())
    with client.session_transaction() as session:
        session["leftover"] = "x"
    client.post("/sign-out")
    with client.session_transaction() as session:
        assert "leftover" not in session and "_user_id" not in session


def test_session_cookie_is_http_only_and_same_site(client, app_ctx):
    make_user(email="amira@example.com")
    r = client.post("/sign-in", data={"email": "amira@example.com", "password": PASSWORD})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Development and tests run over plain HTTP on localhost.
    assert "Secure" not in cookie
    assert "Strict-Transport-Security" not in r.headers


@pytest.fixture
def production_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-this-test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    config = ProductionConfig()
    # The limiter is shared by every app in the process: keep its counts here.
    config.RATELIMIT_STORAGE_URI = "memory://"
    return create_app(config)


def test_production_cookies_are_secure_and_hsts_is_sent(production_app):
    config = production_app.config
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["REMEMBER_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    r = production_app.test_client().get("/sign-in", base_url="https://portal.example")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = r.headers["Set-Cookie"]  # the CSRF token is kept in the session
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
