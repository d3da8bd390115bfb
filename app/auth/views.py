from dataclasses import replace
from datetime import timedelta

from flask import current_app, flash, redirect, url_for
from flask_login import current_user

from app.access import public
from app.auth import bp, sessions
from app.auth.forms import (AcceptInvitationForm, ChangePasswordForm, ForgotPasswordForm,
                            RegisterForm, ResendConfirmationForm, ResetPasswordForm,
                            SignInForm, SignOutForm)
from app.auth.throttling import limit
from app.domain import accounts, audit, second_factor
from app.email import send_email
from app.extensions import db
from app.models import utcnow
from app.web import audit_ctx, redirect_303, render, safe_next

WRONG_PASSWORD = "Enter a correct email address and password"


def _link(endpoint: str, user, purpose: str) -> str:
    token = accounts.make_token(current_app.config["SECRET_KEY"], user, purpose)
    return url_for(endpoint, token=token, _external=True)


def _user_from(token: str, purpose: str):
    return accounts.read_token(current_app.config["SECRET_KEY"], token, purpose,
                               current_app.config["TOKEN_MAX_AGE_SECONDS"])


def lockout_policy() -> accounts.LockoutPolicy:
    config = current_app.config
    return accounts.LockoutPolicy(max_failures=config["LOCKOUT_MAX_FAILURES"],
                                  window=timedelta(minutes=config["LOCKOUT_WINDOW_MINUTES"]),
                                  lock_for=timedelta(minutes=config["LOCKOUT_MINUTES"]))


def locked_message() -> str:
    return ("There have been too many attempts to sign in with this email address. "
            f"Wait {current_app.config['LOCKOUT_MINUTES']} minutes and try again, or reset "
            "your password")


def throttle_key(email: str) -> str:
    return accounts.throttle_key(current_app.config["SECRET_KEY"], email)


def acting_as(user) -> audit.AuditContext:
    """The audit context of someone part-way through signing in (not yet
    `current_user`)."""
    return replace(audit_ctx(), actor_id=user.id, actor_role=user.role.value)


def complete_sign_in(user, next_url: str, *, method: str | None = None):
    """Everything checked: record it, start a fresh session, go on."""
    user.last_sign_in_at = utcnow()
    accounts.clear_failed_sign_ins(throttle_key(user.email))
    audit.record(acting_as(user), "account.signed_in", "user", user.id,
                 provider_id=user.provider_id, internal=True,
                 after={"second_factor": method} if method else None)
    db.session.commit()
    sessions.start(user, second_factor_passed=method is not None)
    return redirect(next_url, code=303)


def send_confirmation(user) -> None:
    send_email(user.email, "confirm_email", user=user,
               link=_link("auth.confirm_email", user, "confirm"))


def send_invitation(user, invited_by) -> None:
    """Used by team invitations and staff account creation alike."""
    send_email(user.email, "invitation", user=user, invited_by=invited_by,
               link=_link("auth.accept_invitation", user, "invite"))


@bp.route("/register", methods=["GET", "POST"])
@public
@limit("RATELIMIT_REGISTER")
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        existing = accounts.find_by_email(form.email.data)
        if existing:
            # Say the same as for a new account, so the page reveals nothing;
            # the owner of the address gets an email explaining what to do.
            send_email(existing.email, "already_registered", user=existing,
                       reset_link=url_for("auth.forgot_password", _external=True))
        else:
            user = accounts.register_provider_admin(audit_ctx(), form.full_name.data,
                                                    form.email.data, form.password.data)
            db.session.commit()
            send_confirmation(user)
        return redirect_303("auth.check_email")
    return render("auth/register.html", title="Create an account", form=form,
                  status=400 if form.errors else 200)


@bp.get("/register/check-email")
@public
def check_email():
    return render("auth/check_email.html", title="Check your email")


@bp.get("/confirm/<token>")
@public
def confirm_email(token: str):
    user = _user_from(token, "confirm")
    if user is None:
        return render("auth/link_expired.html", title="This link has expired or was already used",
                      resend=True, status=400)
    accounts.confirm_email(audit_ctx(), user)
    db.session.commit()
    flash("Your email address is confirmed. Sign in to continue.", "success")
    return redirect_303("auth.sign_in")


@bp.route("/confirm/resend", methods=["GET", "POST"])
@public
@limit("RATELIMIT_FORGOT_PASSWORD")
def resend_confirmation():
    form = ResendConfirmationForm()
    if form.validate_on_submit():
        user = accounts.find_by_email(form.email.data)
        if user and user.email_confirmed_at is None and user.password_hash:
            send_confirmation(user)
        return redirect_303("auth.check_email")
    return render("auth/resend.html", title="Send the confirmation link again", form=form,
                  status=400 if form.errors else 200)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@limit("RATELIMIT_SIGN_IN")
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    status = 400
    if form.validate_on_submit():
        attempt = accounts.attempt_sign_in(
            audit_ctx(), email=form.email.data, password=form.password.data,
            secret_key=current_app.config["SECRET_KEY"], policy=lockout_policy())
        user = attempt.user
        if attempt.locked_until is not None:
            form.email.errors.append(locked_message())
            status = 429
        elif user is None:
            # One message whether or not the account exists.
            form.email.errors.append(WRONG_PASSWORD)
        elif user.email_confirmed_at is None:
            form.email.errors.append(
                "Confirm your email address first, using the link we sent you")
        elif user.needs_second_factor:
            db.session.commit()
            sessions.begin_second_factor(user, safe_next("main.home"))
            return redirect_303("auth.second_factor_code" if user.has_second_factor
                                else "auth.set_up_second_factor")
        else:
            return complete_sign_in(user, safe_next("main.home"))
        db.session.commit()  # the failure count and its audit event
    return render("auth/sign_in.html", title="Sign in", form=form,
                  status=status if form.errors else 200)


@bp.get("/sign-out")
def sign_out_confirm():
    return render("auth/sign_out.html", title="Sign out", form=SignOutForm())


@bp.post("/sign-out")
def sign_out():
    form = SignOutForm()
    if form.validate_on_submit():
        sessions.end("You have signed out.")
        return redirect_303("auth.sign_in")
    return render("auth/sign_out.html", title="Sign out", form=form, status=400)


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
@limit("RATELIMIT_FORGOT_PASSWORD")
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = accounts.find_by_email(form.email.data)
        if user and user.is_active and user.password_hash:
            send_email(user.email, "reset_password", user=user,
                       link=_link("auth.reset_password", user, "reset"))
        return render("auth/reset_sent.html", title="Check your email", email=form.email.data)
    return render("auth/forgot_password.html", title="Reset your password", form=form,
                  status=400 if form.errors else 200)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    user = _user_from(token, "reset")
    if user is None:
        return render("auth/link_expired.html", title="This link has expired or was already used",
                      resend=False, status=400)
    form = ResetPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        accounts.set_password(audit_ctx(), user, form.password.data, "account.password_reset")
        # The link proved the address: lift any lock an attacker caused.
        accounts.clear_failed_sign_ins(throttle_key(user.email))
        db.session.commit()
        sessions.end("Your password has been reset. Sign in with your new password.")
        return redirect_303("auth.sign_in")
    return render("auth/reset_password.html", title="Create a new password", form=form,
                  status=400 if form.errors else 200)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    user = _user_from(token, "invite")
    if user is None or user.password_hash:
        return render("auth/link_expired.html", title="This invitation has expired or was already used",
                      resend=False, status=400)
    form = AcceptInvitationForm()
    form.account_email = user.email
    if form.validate_on_submit():
        accounts.set_password(audit_ctx(), user, form.password.data, "account.invitation_accepted")
        db.session.commit()
        if user.needs_second_factor:
            # Staff are signed in only once their second factor is set up.
            sessions.begin_second_factor(user, url_for("main.home"))
            return redirect_303("auth.set_up_second_factor")
        sessions.start(user)
        flash("Your account is ready.", "success")
        return redirect_303("main.home")
    return render("auth/accept_invitation.html", title="Set up your account", form=form,
                  invitee=user, status=400 if form.errors else 200)


@bp.get("/account")
def account():
    user = current_user._get_current_object()
    recovery_codes = (second_factor.unused_recovery_codes(user)
                      if user.has_second_factor else None)
    return render("auth/account.html", title="Your account", recovery_codes=recovery_codes)


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    form = ChangePasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append("Your current password is not correct")
        else:
            user = current_user._get_current_object()
            accounts.set_password(audit_ctx(), user, form.password.data, "account.password_changed")
            db.session.commit()
            # A fresh session carrying the new version (the others end).
            sessions.start(user, second_factor_passed=True)
            send_email(user.email, "password_changed", user=user)
            flash("Your password has been changed.", "success")
            return redirect_303("auth.account")
    return render("auth/change_password.html", title="Change your password", form=form,
                  status=400 if form.errors else 200)

