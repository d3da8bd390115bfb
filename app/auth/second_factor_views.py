"""The second step of signing in for staff: set up an authenticator app the
first time (then save the recovery codes), enter its code every time after,
or use a recovery code instead.

These pages are open without signing in (the person is not signed in yet);
each needs the pending sign-in the password step left in the session.
"""
from flask import current_app, flash, redirect, session, url_for
from markupsafe import Markup

from app.access import public
from app.auth import bp, sessions
from app.auth.forms import RecoveryCodeForm, SecondFactorForm, SetUpSecondFactorForm
from app.auth.throttling import limit
from app.auth.views import (acting_as, complete_sign_in, lockout_policy, locked_message,
                            throttle_key)
from app.domain import accounts, second_factor
from app.extensions import db
from app.web import redirect_303, render, safe_next

CODE_FIELD = {"code": {"classes": "govuk-input--width-10", "spellcheck": False,
                       "attributes": {"autocomplete": "one-time-code", "inputmode": "numeric"}}}
RECOVERY_FIELD = {"code": {"classes": "govuk-input--width-20", "spellcheck": False,
                           "attributes": {"autocomplete": "off"}}}


def _start_again():
    # As for any page that needs signing in (the login manager's 302).
    flash("Your sign-in timed out. Sign in again to continue.", "info")
    return redirect(url_for("auth.sign_in"))


def _no_store(response):
    # Pages that show a secret or recovery codes must not stay in a cache.
    body, status = response
    response = current_app.make_response((body, status))
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse_if_locked(user, form):
    """A locked address gets no more guesses: the pending sign-in ends."""
    if accounts.locked_until(throttle_key(user.email)) is None:
        return False
    sessions.end_pending()
    form.code.errors.append(locked_message())
    return True


def _count_failure(user, form, message: str, stage: str) -> int:
    locked = accounts.record_failed_sign_in(acting_as(user), throttle_key(user.email),
                                            lockout_policy(), user, stage=stage)
    db.session.commit()
    if locked is not None:
        sessions.end_pending()
        form.code.errors.append(locked_message())
        return 429
    form.code.errors.append(message)
    return 400


@bp.route("/sign-in/second-factor", methods=["GET", "POST"])
@public
@limit("RATELIMIT_SECOND_FACTOR")
def second_factor_code():
    user = sessions.pending_user()
    if user is None:
        return _start_again()
    if not user.has_second_factor:
        return redirect_303("auth.set_up_second_factor")
    form = SecondFactorForm()
    status = 400
    if form.validate_on_submit():
        if _refuse_if_locked(user, form):
            status = 429
        elif second_factor.verify(user, form.code.data):
            return complete_sign_in(user, sessions.pending_next(), method="authenticator app")
        else:
            status = _count_failure(
                user, form, "The code is not correct or has already been used. Enter the "
                            "code your authenticator app shows now", "second factor")
    return render("auth/second_factor.html", title="Enter the code from your authenticator app",
                  form=form, field_params=CODE_FIELD, status=status if form.errors else 200)


@bp.route("/sign-in/recovery-code", methods=["GET", "POST"])
@public
@limit("RATELIMIT_SECOND_FACTOR")
def recovery_code():
    user = sessions.pending_user()
    if user is None:
        return _start_again()
    if not user.has_second_factor:
        return redirect_303("auth.set_up_second_factor")
    form = RecoveryCodeForm()
    status = 400
    if form.validate_on_submit():
        if _refuse_if_locked(user, form):
            status = 429
        elif second_factor.use_recovery_code(acting_as(user), user, form.code.data):
            left = second_factor.unused_recovery_codes(user)
            response = complete_sign_in(user, sessions.pending_next(), method="recovery code")
            flash(f"You used a recovery code. You have {left} left"
                  + (". Ask an administrator to reset your second factor to get new codes."
                     if left <= 3 else "."), "info")
            return response
        else:
            status = _count_failure(user, form, "The recovery code is not correct or has "
                                                "already been used", "recovery code")
    return render("auth/recovery_code.html", title="Use a recovery code", form=form,
                  field_params=RECOVERY_FIELD, status=status if form.errors else 200)


@bp.route("/sign-in/second-factor/set-up", methods=["GET", "POST"])
@public
@limit("RATELIMIT_SECOND_FACTOR")
def set_up_second_factor():
    user = sessions.pending_user()
    if user is None:
        return _start_again()
    if user.has_second_factor:
        return redirect_303("auth.second_factor_code")
    secret = sessions.pending_secret(second_factor.new_secret)
    form = SetUpSecondFactorForm()
    status = 400
    if form.validate_on_submit():
        if _refuse_if_locked(user, form):
            status = 429
        else:
            try:
                codes = second_factor.set_up(acting_as(user), user, secret, form.code.data)
            except second_factor.SecondFactorError:
                status = _count_failure(
                    user, form, "The code is not correct. Check the app is set up with the "
                                "key on this page and enter the code it shows now", "set up")
            else:
                response = complete_sign_in(user, sessions.pending_next(),
                                            method="authenticator app")
                # Shown once, on the next page, then gone from the session.
                session[sessions.NEW_RECOVERY_CODES] = codes
                return redirect(url_for("auth.new_recovery_codes",
                                        next=response.headers["Location"]), code=303)
    uri = second_factor.provisioning_uri(secret, user.email, current_app.config["SERVICE_NAME"])
    return _no_store(render(
        "auth/set_up_second_factor.html", title="Set up your authenticator app", form=form,
        field_params=CODE_FIELD, secret=second_factor.grouped(secret),
        qr_code=Markup(second_factor.qr_svg(uri, "QR code to scan with your authenticator app")),
        status=status if form.errors else 200))


@bp.get("/sign-in/recovery-codes")
def new_recovery_codes():
    codes = session.pop(sessions.NEW_RECOVERY_CODES, None)
    if not codes:
        flash("Your recovery codes were shown once, when you set up your authenticator app. "
              "If you have lost them, ask an administrator to reset your second factor.", "info")
        return redirect_303("auth.account")
    return _no_store(render("auth/recovery_codes.html", title="Save your recovery codes",
                            codes=codes, next_url=safe_next("main.home")))
