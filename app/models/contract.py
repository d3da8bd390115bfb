"""Contract management: authorities and their access to lots, API tokens,
suspensions, removals, concerns, expiry reminders and background job runs."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.states import (ConcernCategory, ConcernStatus, JobStatus, RemovalStatus,
                               Severity, SuspensionReason)
from app.extensions import db
from app.models.base import MONEY, enum_column, utcnow


class Authority(db.Model):
    """The lead authority or a member authority of a DPS."""
    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    is_lead: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agreements = relationship("AccessAgreement", back_populates="authority",
                              order_by="AccessAgreement.lot_id")


class AccessAgreement(db.Model):
    """A member authority's paid access to one lot for a period."""
    __tablename__ = "access_agreements"
    __table_args__ = (sa.Index("ix_access_agreements_authority_lot", "authority_id", "lot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("authorities.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    annual_fee: Mapped[Decimal] = mapped_column(MONEY)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    authority = relationship("Authority", back_populates="agreements")
    lot = relationship("Lot")


class ApiToken(db.Model):
    """A member authority's token for the rate-card API. Only a hash is kept."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("authorities.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None]

    authority = relationship("Authority")


class Suspension(db.Model):
    """A provider suspended from one lot (lot_id), all lots (both null) or a
    single setting (setting_id). Active until lifted."""
    __tablename__ = "suspensions"
    __table_args__ = (sa.Index("ix_suspensions_provider_active", "provider_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lots.id"))
    setting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settings.id"))
    reason: Mapped[SuspensionReason] = mapped_column(enum_column(SuspensionReason))
    description: Mapped[str] = mapped_column(sa.Text)
    # What the provider must put right, shown to them.
    remedy: Mapped[str] = mapped_column(sa.Text, default="")
    starts_on: Mapped[date]
    review_on: Mapped[date | None]
    concern_id: Mapped[int | None] = mapped_column(sa.ForeignKey("concerns.id"))
    automatic: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lift_note: Mapped[str | None] = mapped_column(sa.Text)

    provider = relationship("Provider")
    lot = relationship("Lot")
    setting = relationship("Setting")
    created_by = relationship("User", foreign_keys=[created_by_id])


class Removal(db.Model):
    """Removing (barring) a provider from a lot or every lot: requested by one
    person, confirmed by a second."""
    __tablename__ = "removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lots.id"))
    ground: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[RemovalStatus] = mapped_column(enum_column(RemovalStatus),
                                                  default=RemovalStatus.PENDING)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(sa.Text)

    provider = relationship("Provider")
    lot = relationship("Lot")
    requested_by = relationship("User", foreign_keys=[requested_by_id])


class Concern(db.Model):
    """A concern or safeguarding alert raised by any authority; visible to the
    lead and every member authority."""
    __tablename__ = "concerns"
    __table_args__ = (sa.Index("ix_concerns_provider_status", "provider_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    setting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settings.id"), index=True)
    category: Mapped[ConcernCategory] = mapped_column(enum_column(ConcernCategory))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[ConcernStatus] = mapped_column(enum_column(ConcernStatus),
                                                  default=ConcernStatus.OPEN)
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    # Safeguarding alerts stay hidden from the provider unless a commissioner shares them.
    shared_with_provider: Mapped[bool] = mapped_column(default=False)
    raised_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    authority_id: Mapped[int | None] = mapped_column(sa.ForeignKey("authorities.id"))
    source: Mapped[str] = mapped_column(sa.String(20), default="manual")  # or "ofsted_import"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    provider = relationship("Provider")
    setting = relationship("Setting")
    raised_by = relationship("User", foreign_keys=[raised_by_id])
    authority = relationship("Authority")


class ExpiryReminder(db.Model):
    """One reminder per document per threshold (60, 30, 7 days; 0 = expired),
    so the daily job is safe to run twice."""
    __tablename__ = "expiry_reminders"
    __table_args__ = (sa.UniqueConstraint("document_id", "days_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id"))
    days_before: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRun(db.Model):
    """A background job a person or the schedule started, with its progress
    and report, so the portal can show it while it runs."""
    __tablename__ = "job_runs"
    __table_args__ = (sa.Index("ix_job_runs_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))  # "expiry_check", "ofsted_import"
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.QUEUED)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    input_key: Mapped[str | None] = mapped_column(sa.String(200))  # stored upload, if any
    input_name: Mapped[str | None] = mapped_column(sa.String(255))
    run_date: Mapped[date | None]
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    report: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    started_by = relationship("User")
