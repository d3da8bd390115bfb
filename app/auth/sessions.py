"""Signed-in sessions: fresh on every sign-in, ended after inactivity, and
for staff only granted once the second factor has passed.

Between the password and the second factor the browser holds a short-lived
"pending" sign-in in its (signed) session cookie; it is not signed in, so
`current_user` stays anonymous and no other page opens.
"""
import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.access import PUBLIC_ATTR
from app.extensions import db
from app.models import User

PENDING = "pending_sign_in"
SECOND_FACTOR_PASSED = "second_factor_user"
LAST_SEEN = "last_seen"
NEW_RECOVERY_CODES = "new_recovery_codes"
# Writing the cookie on every request is needless: a minute's precision will do.
_LAST_SEEN_PRECISION = 60


def _now() -> int:
    return int(time.time())


def start(user: User, *, second_factor_passed: bool = False) -> None:
    """Sign `user` in with a new session: whatever the browser held before
    (including an id an attacker planted) is thrown away."""
    session.clear()
    login_user(user)
    if user.needs_second_factor and second_factor_passed:
        session[SECOND_FACTOR_PASSED] = user.id
    session[LAST_SEEN] = _now()


def begin_second_factor(user: User, next_url: str) -> None:
    """The password was right; the second factor is still to come."""
    session.clear()
    session[PENDING] = {"user_id": user.id, "version": user.session_version,
                        "started": _now(), "next": next_url}


def pending_user() -> User | None:
    """The user part-way through signing in, while that is still current."""
    data = session.get(PENDING)
    if not isinstance(data, dict):
        return None
    limit = current_app.config["SECOND_FACTOR_PENDING_MINUTES"] * 60
    if _now() - int(data.get("started", 0)) > limit:
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, data.get("user_id"))
    if user is None or not user.is_active or user.session_version != data.get("version"):
        session.pop(PENDING, None)
        return None
    return user


def pending_next() -> str:
    data = session.get(PENDING) or {}
    return data.get("next") or url_for("main.home")


def pending_secret(new_secret) -> str:
    """The secret being set up, kept for the length of the pending sign-in so a
    refreshed page shows the same QR code. `new_secret` makes one the first time."""
    data = dict(session.get(PENDING) or {})
    if not data.get("secret"):
        data["secret"] = new_secret()
        session[PENDING] = data
    return data["secret"]


def end_pending() -> None:
    session.pop(PENDING, None)


def end(message: str | None = None) -> None:
    logout_user()
    session.clear()
    if message:
        flash(message, "info")


def _is_public_endpoint() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and getattr(view, PUBLIC_ATTR, False)


def _to_sign_in():
    target = url_for("auth.sign_in", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # A fragment request would swap the sign-in page into part of a page.
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def enforce_session_rules():
    """A before-request hook, after the login check: ends a session left idle
    too long, and a staff session that never passed the second factor."""
    endpoint = request.endpoint or ""
    if not endpoint or endpoint == "static" or endpoint.endswith(".static"):
        return None  # no user to load for a stylesheet or a 404
    if not current_user.is_authenticated:
        return None
    now = _now()
    idle_minutes = current_app.config["SESSION_IDLE_MINUTES"]
    last_seen = session.get(LAST_SEEN)
    if isinstance(last_seen, int) and now - last_seen > idle_minutes * 60:
        end(f"You were signed out because you had not done anything for {idle_minutes} "
            "minutes. Sign in again to continue.")
        return None if _is_public_endpoint() else _to_sign_in()
    if current_user.needs_second_factor and session.get(SECOND_FACTOR_PASSED) != current_user.id:
        end()
        return None if _is_public_endpoint() else _to_sign_in()
    if not isinstance(last_seen, int) or now - last_seen >= _LAST_SEEN_PRECISION:
        session[LAST_SEEN] = now
    return None
