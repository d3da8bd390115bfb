"""API tokens for the rate-card API, one or more per authority.

A token is shown to the administrator once, when issued; only its SHA-256
hash and a short prefix (so people can tell tokens apart) are stored. A
token's lot access is its authority's (current agreements, or every lot for
the lead authority), read afresh on every request, so ending an agreement
takes effect at once. Nothing here commits.
"""
import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.domain import audit
from app.extensions import db
from app.models import ApiToken, Authority, utcnow

PREFIX = "dps_"
SHOWN_PREFIX_LENGTH = 12  # "dps_" and 8 characters of the secret
# last_used_at is for spotting unused tokens, not an access log: writing it at
# most once a minute keeps busy clients from turning every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A rule refused the change; the message is written for the administrator."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_plaintext() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def issue_token(ctx: audit.AuditContext, authority: Authority, *, name: str,
                created_by_id: int | None, plaintext: str | None = None) -> tuple[ApiToken, str]:
    """A new token for `authority`: returns the row and the plaintext, which
    the caller shows once and never stores. `plaintext` is for the demo data
    only, so its documented token works on every machine."""
    name = " ".join((name or "").split())
    if not name:
        raise TokenError("Enter what the token is for", "name")
    if len(name) > 100:
        raise TokenError("Name must be 100 characters or fewer", "name")
    plaintext = plaintext or new_plaintext()
    token = ApiToken(authority_id=authority.id, name=name, token_hash=hash_token(plaintext),
                     prefix=plaintext[:SHOWN_PREFIX_LENGTH], created_by_id=created_by_id)
    db.session.add(token)
    db.session.flush()
    audit.record(ctx, "api_token.issued", "api_token", token.id,
                 after={"authority_id": authority.id, "name": name, "prefix": token.prefix})
    return token, plaintext


def revoke_token(ctx: audit.AuditContext, token: ApiToken, *, by_user_id: int | None) -> None:
    if token.revoked_at is not None:
        raise TokenError("This token has already been revoked")
    token.revoked_at = utcnow()
    token.revoked_by_id = by_user_id
    audit.record(ctx, "api_token.revoked", "api_token", token.id,
                 before={"revoked": False}, after={"revoked": True, "prefix": token.prefix})


def authenticate(plaintext: str) -> ApiToken | None:
    """The live token with this plaintext, or None (unknown or revoked).

    Looked up by its hash: the database never compares secrets, and a hash
    reveals nothing about tokens that are near misses."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    return db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext),
                                  ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.authority))
    ).scalar_one_or_none()


def mark_used(token: ApiToken, now: datetime | None = None) -> bool:
    """Record that the token was used, unless that was already recorded in
    the last minute. One conditional UPDATE; True when it wrote."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return False
    result = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.id == token.id,
               sa.or_(ApiToken.last_used_at.is_(None),
                      ApiToken.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False))
    # Already written: keep the loaded object in step without another UPDATE.
    set_committed_value(token, "last_used_at", now)
    return bool(result.rowcount)
