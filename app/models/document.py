from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.reference import DocumentKind
from app.domain.states import DocumentStatus
from app.extensions import db
from app.models.base import MONEY, enum_column, utcnow


class Document(db.Model):
    """A piece of evidence. Belongs to the organisation (or one of its settings),
    not to an application, so it is reused by every lot and later application."""
    __tablename__ = "documents"
    __table_args__ = (sa.Index("ix_documents_provider_kind", "provider_id", "kind", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    setting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settings.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind))
    status: Mapped[DocumentStatus] = mapped_column(enum_column(DocumentStatus),
                                                   default=DocumentStatus.AWAITING_CHECK)
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    original_filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    insurer: Mapped[str | None] = mapped_column(sa.String(200))
    policy_number: Mapped[str | None] = mapped_column(sa.String(100))
    cover_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    expires_on: Mapped[date | None] = mapped_column(index=True)
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    verified_at: Mapped[datetime | None]
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    provider = relationship("Provider")
    setting = relationship("Setting")
    uploaded_by = relationship("User", foreign_keys=[uploaded_by_id])
