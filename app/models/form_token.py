from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow


class FormToken(db.Model):
    """A one-time form token that has been spent: the form it came with did
    its work once, and a repeat (double click, back and resubmit, a replayed
    request) is sent to what the first one made instead of making it again.

    Written in the same transaction as that work; the unique token makes the
    second of two simultaneous submissions fail and roll back.
    """
    __tablename__ = "form_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Who spent it: a token is only honoured for the same user (None: signed out).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    form: Mapped[str] = mapped_column(sa.String(80))
    # Where the first submission led: a repeat is sent there.
    result_url: Mapped[str] = mapped_column(sa.String(500))
    spent_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
