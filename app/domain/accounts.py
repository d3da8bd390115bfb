"""Accounts: registration, confirmation, invitations and password resets.

Links in emails carry a signed, expiring token naming the user, the purpose
and the user's session version, so a link dies once the password changes.
"""
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
import sqlalchemy as sa

from app.domain import audit
from app.domain.states import Role
from app.extensions import db
from app.models import User, utcnow

MIN_PASSWORD_LENGTH = 10
# The most common passwords that meet the length rule (NCSC advises a deny-list).
COMMON_PASSWORDS = {
    "password123", "password1234", "1234567890", "qwertyuiop", "123456789a",
    "iloveyou123", "passwordpassword", "letmein123", "welcome123", "administrator",
    "qwerty12345", "abcdefghij", "0987654321", "1q2w3e4r5t", "football123",
    "changeme123", "password!1", "p@ssword123", "sunshine123", "monkey12345",
}


class AccountError(Exception):
    pass


def password_problem(password: str, email: str = "") -> str | None:
    """NCSC guidance: length over complexity, and no well-known passwords."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be {MIN_PASSWORD_LENGTH} characters or more"
    if len(password) > 128:
        return "Password must be 128 characters or fewer"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or (email and lowered == email.lower()):
        return "Password is too easy to guess. Try three random words"
    return None


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
    user.set_password(password)  # bumps session_version: other sessions and links end
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()  # the link proved the address
    audit.record(ctx, action, "user", user.id, provider_id=user.provider_id)
