"""One-time form tokens: a form that creates something does it once.

Each such form carries a random token. The write it makes and the spending of
its token happen in one transaction; a second submission with the same token
(a double click, the browser's back button and submit again, a replayed
request) finds it spent and is shown what the first one made. Two submissions
at the same moment both try to insert the token: the unique constraint lets
exactly one commit.
"""
import re
import secrets
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import FormToken

# token_urlsafe(32): 43 characters of [A-Za-z0-9_-].
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{32,64}")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def well_formed(token) -> bool:
    return isinstance(token, str) and _WELL_FORMED.fullmatch(token) is not None


def spent(token: str) -> FormToken | None:
    """The record of a token already spent, or None."""
    return db.session.execute(
        sa.select(FormToken).where(FormToken.token == token)).scalar_one_or_none()


def spend(token: str, *, user_id: int | None, form: str, result_url: str) -> FormToken:
    """Mark `token` spent in the current transaction (the caller commits, with
    the write the form made). Flushed at once, so a simultaneous twin fails
    here, before doing its own work: IntegrityError."""
    row = FormToken(token=token, user_id=user_id, form=form[:80], result_url=result_url[:500])
    db.session.add(row)
    db.session.flush()
    return row


def purge(spent_before: datetime) -> int:
    """Forget tokens spent before a date (a resubmission after that long makes
    a new record). Returns how many were removed."""
    result = db.session.execute(sa.delete(FormToken).where(FormToken.spent_at < spent_before))
    return result.rowcount or 0
