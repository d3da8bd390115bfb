import time

import sqlalchemy as sa
from flask import abort, current_app, redirect, url_for
from flask_login import current_user

from app.access import public
from app.auth import sessions
from app.demo import DEMO_STAFF
from app.dev import bp
from app.domain import second_factor
from app.extensions import db
from app.models import OutboxEmail, User
from app.web import render


@bp.get("/outbox")
@public
def outbox():
    # Development only (see the blueprint guard); newest first, bounded.
    # Public there: a new provider reads the link confirming its account here.
    emails = db.session.execute(
        sa.select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(200)
    ).scalars().all()
    return render("dev/outbox.html", title="Email outbox", emails=emails)


@bp.get("/outbox/<int:email_id>")
@public
def outbox_email(email_id: int):
    email = db.session.get(OutboxEmail, email_id) or abort(404)
    return render("dev/outbox_email.html", title=email.subject, email=email)


@bp.get("/second-factor-codes")
@public
def second_factor_codes():
    """The demo staff accounts' current codes, so someone trying the demo can
    sign in as staff without an authenticator app. Development only (see the
    blueprint guard), and only for someone signed in or part-way through."""
    if not current_user.is_authenticated and sessions.pending_user() is None:
        return redirect(url_for("auth.sign_in"))
    emails = [email for email, _name, _role in DEMO_STAFF]
    key = current_app.config["SECRET_KEY"]
    # Only the derived demo secrets: never one someone set up with a real app.
    users = [user for user in db.session.execute(
        sa.select(User).where(User.email.in_(emails), User.totp_secret.is_not(None))
        .order_by(User.email)).scalars()
        if user.totp_secret == second_factor.demo_secret(key, user.email)]
    now = time.time()
    step = second_factor.step_at(now)
    # A code works once: once this step's code is used, the next one is accepted early.
    rows = [(user, second_factor.code_at(user.totp_secret,
                                         max(step, (user.totp_last_step or 0) + 1)))
            for user in users]
    seconds_left = int(second_factor.STEP_SECONDS - now % second_factor.STEP_SECONDS)
    return render("dev/second_factor_codes.html", title="Demo second-factor codes",
                  rows=rows, seconds_left=seconds_left)
