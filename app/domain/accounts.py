"""Accounts: registration, confirmation, invitations, password resets and
signing in with a password.

Links in emails carry a signed, expiring token naming the user, the purpose
and the user's session version, so a link dies once the password changes.

Failed sign-ins are counted per email address, whether or not an account has
it, under a keyed hash of the normalised address: after too many in a short
window the address is locked for a while. Existing and unknown addresses get
the same answers, and the password hash is always computed, so neither the
message, the status nor the time taken says whether an account exists.
"""
import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.domain import audit, passwords
from app.domain.states import Role
from app.extensions import db
from app.models import User, utcnow
from app.models.user import SignInThrottle

MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH


class AccountError(Exception):
    pass


def password_problem(password: str, email: str = "", service_name: str = "") -> str | None:
    """Why a new password is refused (see app.domain.passwords), or None."""
    return passwords.password_problem(password, email=email, service_name=service_name)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def register_provider_admin(ctx: audit.AuditContext, full_name: str, email: str,
                            password: str) -> User:
    """A new provider account; it registers its organisation after confirming."""
    if find_by_email(email):
        raise AccountError("email taken")
    user = User(full_name=full_name.strip(), email=normalise_email(email),
                role=Role.PROVIDER_ADMIN)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(ctx, "account.registered", "user", user.id, after={"email": user.email})
    return user


def invite_user(ctx: audit.AuditContext, *, email: str, full_name: str, role: Role,
                provider_id: int | None, invited_by: User | None) -> User:
    """Create an account without a password; the invitee sets one from the link."""
    if find_by_email(email):
        raise AccountError("An account with this email address already exists")
    user = User(full_name=full_name.strip(), email=normalise_email(email), role=role,
                provider_id=provider_id, invited_by_id=invited_by.id if invited_by else None)
    db.session.add(user)
    db.session.flush()
    audit.record(ctx, "account.invited", "user", user.id, provider_id=provider_id,
                 after={"email": user.email, "role": role.value})
    return user


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="portal-account-links")


def make_token(secret_key: str, user: User, purpose: str) -> str:
    return _serializer(secret_key).dumps({"u": user.id, "p": purpose, "v": user.session_version})


def read_token(secret_key: str, token: str, purpose: str, max_age: int) -> User | None:
    """The user a link is for, or None if it is forged, expired or used up."""
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or data.get("p") != purpose:
        return None
    user = db.session.get(User, data.get("u"))
    if user is None or user.session_version != data.get("v"):
        return None
    return user


def confirm_email(ctx: audit.AuditContext, user: User) -> None:
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        audit.record(ctx, "account.email_confirmed", "user", user.id, provider_id=user.provider_id)


def set_password(ctx: audit.AuditContext, user: User, password: str, action: str) -> None:
    problem = password_problem(password, user.email)
    if problem:
        raise AccountError(problem)
    user.set_password(password)  # bumps session_version: other sessions and links end
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()  # the link proved the address
    audit.record(ctx, action, "user", user.id, provider_id=user.provider_id)


# ------------------------------------------------------------------ signing in

@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 10
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInAttempt:
    """The outcome of checking an email address and password."""
    user: User | None = None          # set only when the password was right
    locked_until: datetime | None = None


def throttle_key(secret_key: str, email: str) -> str:
    """A keyed hash of the normalised address: the throttle table holds no
    addresses, and cannot be reversed with a list of likely ones."""
    return hmac.new(secret_key.encode(), normalise_email(email).encode(),
                    hashlib.sha256).hexdigest()


@functools.cache
def _stand_in_hash() -> str:
    # Checked when there is no account, so an unknown address costs the same time.
    return generate_password_hash("no account has this password", method="scrypt")


def _password_matches(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = check_password_hash(stored or _stand_in_hash(), password)
    return stored is not None and matches


def _throttle(key: str, *, for_update: bool = False) -> SignInThrottle | None:
    query = sa.select(SignInThrottle).where(SignInThrottle.key_hash == key)
    if for_update:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def locked_until(key: str, now: datetime | None = None) -> datetime | None:
    """When the lock on this address ends, if it is locked now."""
    now = now or utcnow()
    row = _throttle(key)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def record_failed_sign_in(ctx: audit.AuditContext, key: str, policy: LockoutPolicy,
                          user: User | None = None, *, stage: str = "password",
                          now: datetime | None = None) -> datetime | None:
    """Count one failure (a wrong password or second-factor code) against an
    address; lock it once `policy.max_failures` fall within `policy.window`.
    Returns the end of the lock when this failure locked it."""
    now = now or utcnow()
    row = _throttle(key, for_update=True)
    if row is None:
        try:
            with db.session.begin_nested():
                row = SignInThrottle(key_hash=key, failures=0, window_started_at=now)
                db.session.add(row)
        except IntegrityError:  # a concurrent first failure made the row
            row = _throttle(key, for_update=True)
    if row.window_started_at < now - policy.window:
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    newly_locked = None
    if row.failures >= policy.max_failures:
        row.locked_until = newly_locked = now + policy.lock_for
        row.failures, row.window_started_at = 0, now
    db.session.flush()
    # The same events whether or not an account exists; the lock names the
    # account, when there is one, for whoever reviews the trail.
    audit.record(ctx, "account.sign_in_failed", "sign_in_throttle", row.id, internal=True,
                 after={"stage": stage})
    if newly_locked is not None:
        audit.record(ctx, "account.locked_out", "sign_in_throttle", row.id, internal=True,
                     after={"locked_until": newly_locked.isoformat(timespec="seconds"),
                            "user_id": user.id if user is not None else None})
    _forget_stale_throttles(key, policy, now)
    return newly_locked


def _forget_stale_throttles(keep: str, policy: LockoutPolicy, now: datetime) -> None:
    db.session.execute(sa.delete(SignInThrottle).where(
        SignInThrottle.key_hash != keep,
        SignInThrottle.window_started_at < now - max(policy.window, policy.lock_for),
        sa.or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now)))


def clear_failed_sign_ins(key: str) -> None:
    """After a successful sign-in or a password reset (which proves the address)."""
    db.session.execute(sa.delete(SignInThrottle).where(SignInThrottle.key_hash == key))


def attempt_sign_in(ctx: audit.AuditContext, *, email: str, password: str, secret_key: str,
                    policy: LockoutPolicy, now: datetime | None = None) -> SignInAttempt:
    """Check a password. A locked address is refused even with the right
    password; otherwise a failure is counted. The count is cleared by the
    caller once sign-in is complete (after the second factor, for staff), so
    re-entering a known password never buys more guesses at the code."""
    key = throttle_key(secret_key, email)
    user = find_by_email(email)
    matches = _password_matches(user, password)  # always hash: equal timing
    until = locked_until(key, now)
    if until is not None:
        return SignInAttempt(locked_until=until)
    if matches and user.is_active:
        return SignInAttempt(user=user)
    return SignInAttempt(locked_until=record_failed_sign_in(ctx, key, policy, user, now=now))
