"""Deny by default: every route needs a signed-in user unless it is meant to be public."""
import pytest

from app import create_app
from config import TestConfig

PUBLIC = {
    "main.home", "main.healthz", "main.accessibility", "main.privacy",
    "auth.register", "auth.check_email", "auth.confirm_email", "auth.resend_confirmation",
    "auth.sign_in", "auth.forgot_password", "auth.reset_password", "auth.accept_invitation",
    "static", "govuk_assets.static",
    # The rate-card API authenticates with a member authority's token, not a session.
    "api.providers", "api.provider", "api.openapi",
    # Development only: where a new account's confirmation link is read.
    "dev.outbox", "dev.outbox_email",
}


def _rules():
    app = create_app(TestConfig())
    out = []
    for rule in app.url_map.iter_rules():
        args = {name: 1 for name in rule.arguments}
        if "token" in args:
            args["token"] = "x"
        if "filename" in args:
            args["filename"] = "portal.css"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append(pytest.param(rule.endpoint, rule.build(args, append_unknown=False)[1],
                                    method, id=f"{method} {rule.rule}"))
    return out


@pytest.mark.parametrize("endpoint,url,method", _rules())
def test_anonymous_users_are_sent_to_sign_in(client, endpoint, url, method):
    r = client.open(url, method=method)
    if endpoint in PUBLIC:
        assert r.status_code != 302 or "/sign-in" not in r.headers.get("Location", "")
    elif endpoint.startswith("dev."):
        assert r.status_code in (302, 404)
    else:
        assert r.status_code == 302 and "/sign-in" in r.headers["Location"], endpoint


def test_security_headers(client):
    r = client.get("/sign-in")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in r.headers["Vary"]
