"""The second factor staff use to sign in: a time-based one-time password
(TOTP, RFC 6238: 6 digits, 30-second steps) from an authenticator app, with
single-use recovery codes for when the app is lost.

A code is accepted for the current step or the one either side (clock
drift), and only for a step later than the last one used, so an overheard
code cannot be used again. Recovery codes are kept only as hashes.
"""
import base64
import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from app.domain import audit
from app.extensions import db
from app.models import User, utcnow
from app.models.user import RecoveryCode

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: recovery codes are read off paper. 12 of these are ~59 bits,
# too many to try against a stolen hash.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 12


class SecondFactorError(Exception):
    pass


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32()


def grouped(secret: str) -> str:
    """'ABCD EFGH ...': easier to type into an app than 32 letters in a row."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str, label: str) -> str:
    """The set-up link as a QR code in inline SVG: drawn here, so no script,
    image service or data URL is needed."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, title=label, svgclass="app-qr-code",
                                                lineclass=None, light="#fff")
    return svg.replace("<svg ", '<svg role="img" focusable="false" ', 1)


def step_at(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_code(secret: str, now: float | None = None) -> str:
    return code_at(secret, step_at(now))


def _normalise_code(code: str) -> str:
    return re.sub(r"\s+", "", code or "")


def is_well_formed(code: str) -> bool:
    return bool(re.fullmatch(rf"\d{{{DIGITS}}}", _normalise_code(code)))


def _matching_step(secret: str, code: str, after: int | None, now: float | None) -> int | None:
    code = _normalise_code(code)
    if not is_well_formed(code):
        return None
    current = step_at(now)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def verify(user: User, code: str, now: float | None = None) -> bool:
    """Check a code from the user's app and use up its time step.

    The step is claimed with a conditional UPDATE, so two requests racing with
    the same code cannot both succeed."""
    if not user.has_second_factor:
        return False
    step = _matching_step(user.totp_secret, code, user.totp_last_step, now)
    if step is None:
        return False
    claimed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def set_up(ctx: audit.AuditContext, user: User, secret: str, code: str,
           now: float | None = None) -> list[str]:
    """Turn the second factor on once the user proves their app has the secret.
    Returns the new recovery codes, to be shown once."""
    if user.has_second_factor:
        raise SecondFactorError("The second factor is already set up")
    step = _matching_step(secret, code, None, now)
    if step is None:
        raise SecondFactorError("The code is not correct")
    user.totp_secret, user.totp_confirmed_at, user.totp_last_step = secret, utcnow(), step
    codes = replace_recovery_codes(user)
    audit.record(ctx, "account.second_factor_set_up", "user", user.id)
    return codes


# ------------------------------------------------------------------ recovery codes

def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_normalise_recovery_code(code).encode()).hexdigest()


def _normalise_recovery_code(code: str) -> str:
    return re.sub(r"[\s\-]+", "", (code or "").lower())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4))


def replace_recovery_codes(user: User) -> list[str]:
    """Void any earlier codes and make a fresh set; returns them in clear."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(c))
                       for c in codes)
    db.session.flush()
    return codes


def use_recovery_code(ctx: audit.AuditContext, user: User, code: str) -> bool:
    """Spend one unused recovery code (atomically: each works exactly once)."""
    if not user.has_second_factor or len(_normalise_recovery_code(code)) != _RECOVERY_LENGTH:
        return False
    spent = db.session.execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == _hash_recovery_code(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        return False
    audit.record(ctx, "account.recovery_code_used", "user", user.id,
                 after={"remaining": unused_recovery_codes(user)})
    return True


def unused_recovery_codes(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).scalar_one()


# ------------------------------------------------------------------ administration

def reset(ctx: audit.AuditContext, user: User, reason: str) -> None:
    """An administrator turns a user's second factor off (a lost phone): they
    set it up again at their next sign-in. Their sessions end, in case the
    phone was stolen with the laptop."""
    if not user.needs_second_factor:
        raise SecondFactorError("Only staff accounts have a second factor")
    if ctx.actor_id == user.id:
        raise SecondFactorError("You cannot reset your own second factor. "
                                "Ask another administrator")
    was_set_up = user.has_second_factor
    user.totp_secret = user.totp_confirmed_at = user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.session_version = (user.session_version or 0) + 1
    audit.record(ctx, "account.second_factor_reset", "user", user.id,
                 before={"set_up": was_set_up}, after={"set_up": False}, reason=reason)


# ------------------------------------------------------------------ demo accounts

def demo_secret(secret_key: str, email: str) -> str:
    """A secret derived from the app's key and the address, so the demo staff
    accounts are set up without anyone scanning a code. Development only."""
    digest = hmac.new(secret_key.encode(), f"demo-second-factor:{email}".encode(),
                      hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def set_up_demo(user: User, secret_key: str) -> None:
    user.totp_secret = demo_secret(secret_key, user.email)
    user.totp_confirmed_at = utcnow()
    user.totp_last_step = None
