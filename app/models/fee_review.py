"""The annual fee review: a round a commissioner runs for some lots of a DPS,
one submission per invited provider, one line per price the provider holds,
and the negotiation messages between them. Agreed prices become Price rows
valid from the round's effective date; nothing here rewrites a price."""
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.states import FeeReviewStatus, LineDecision, SubmissionStatus
from app.extensions import db
from app.models.base import MONEY, enum_column, utcnow

PERCENT = sa.Numeric(6, 3)


def _percent_label(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


class FeeReviewRound(db.Model):
    __tablename__ = "fee_review_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    dps_id: Mapped[int] = mapped_column(sa.ForeignKey("dps.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))        # "Fee review 2027-28"
    status: Mapped[FeeReviewStatus] = mapped_column(enum_column(FeeReviewStatus),
                                                    default=FeeReviewStatus.DRAFT)
    opens_on: Mapped[date]
    closes_on: Mapped[date]          # last day a provider may submit (inclusive)
    effective_on: Mapped[date]       # agreed prices apply from this date (usually 1 April)
    # Guidance: entered directly ("direct") or from a weighted model ("model"):
    # staff_weight x NLW change + (100 - staff_weight) x CPIH, all in percent.
    guidance_method: Mapped[str] = mapped_column(sa.String(10), default="direct")
    staff_cost_weight: Mapped[Decimal | None] = mapped_column(PERCENT)   # e.g. 70.000 (%)
    nlw_change: Mapped[Decimal | None] = mapped_column(PERCENT)          # e.g. 4.100 (%)
    cpih: Mapped[Decimal | None] = mapped_column(PERCENT)                # e.g. 3.400 (%)
    guidance_uplift: Mapped[Decimal] = mapped_column(PERCENT)            # expected uplift, %
    cap_uplift: Mapped[Decimal | None] = mapped_column(PERCENT)          # hard cap, %; None = no cap
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    invitation_job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("job_runs.id"))
    version: Mapped[int] = mapped_column(default=1)

    dps = relationship("Dps")
    lots = relationship("FeeReviewRoundLot", order_by="FeeReviewRoundLot.lot_id",
                        cascade="all, delete-orphan")
    created_by = relationship("User", foreign_keys=[created_by_id])
    invitation_job = relationship("JobRun")

    __mapper_args__ = {"version_id_col": version}

    @property
    def lot_ids(self) -> list[int]:
        return [rl.lot_id for rl in self.lots]

    @property
    def guidance_label(self) -> str:
        """"3.89" for templates: 2 dp, half up (as every uplift is shown)."""
        return _percent_label(self.guidance_uplift)

    @property
    def cap_label(self) -> str:
        return _percent_label(self.cap_uplift)


class FeeReviewRoundLot(db.Model):
    __tablename__ = "fee_review_round_lots"

    round_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_review_rounds.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), primary_key=True)

    lot = relationship("Lot")


class FeeReviewSubmission(db.Model):
    """One invited provider's resubmission in a round (all its lots in the
    round), from invitation to agreement."""
    __tablename__ = "fee_review_submissions"
    __table_args__ = (sa.UniqueConstraint("round_id", "provider_id"),
                      sa.Index("ix_fee_review_submissions_round_status", "round_id", "status"),
                      sa.Index("ix_fee_review_submissions_provider", "provider_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_review_rounds.id"))
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    status: Mapped[SubmissionStatus] = mapped_column(enum_column(SubmissionStatus),
                                                     default=SubmissionStatus.INVITED)
    justification: Mapped[str] = mapped_column(sa.Text, default="")   # overall case
    # Cost evidence from the provider's evidence library (optional).
    evidence_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id"))
    extended_until: Mapped[date | None]        # a commissioner's extension for this provider
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Who proposed the agreement (four eyes: the approver must differ).
    agreement_proposed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    agreed_at: Mapped[datetime | None]
    agreed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    prices_from: Mapped[date | None]           # when the agreed prices apply
    # Denormalised totals of weekly-fee lines (kept by the domain) so queues and
    # reports need no per-line arithmetic at national scale.
    current_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    requested_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    agreed_total: Mapped[Decimal | None] = mapped_column(MONEY)
    above_guidance: Mapped[bool] = mapped_column(default=False)  # any line requests more than guidance
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    round = relationship("FeeReviewRound")
    provider = relationship("Provider")
    lines = relationship("FeeReviewLine", back_populates="submission",
                         order_by="(FeeReviewLine.lot_id, FeeReviewLine.position)")
    messages = relationship("FeeReviewMessage", order_by="FeeReviewMessage.id")
    evidence_document = relationship("Document")

    __mapper_args__ = {"version_id_col": version}

    @property
    def deadline(self) -> date:
        """The last day this provider may submit: the closing date or its extension."""
        closes_on = self.round.closes_on
        return max(closes_on, self.extended_until or closes_on)


class FeeReviewLine(db.Model):
    """One price the provider held when invited (a weekly ceiling price or an
    additional-service rate) with what it asks, what was decided and agreed."""
    __tablename__ = "fee_review_lines"
    __table_args__ = (sa.Index("ix_fee_review_lines_submission", "submission_id", "lot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_review_submissions.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    position: Mapped[int] = mapped_column(default=0)
    price_id: Mapped[int] = mapped_column(sa.ForeignKey("prices.id"))  # the row in force when invited
    placement_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("placement_types.id"))
    label: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20))      # "week", "hour", ...
    current_amount: Mapped[Decimal] = mapped_column(MONEY)
    proposed_amount: Mapped[Decimal | None] = mapped_column(MONEY)   # None: no change asked
    justification: Mapped[str] = mapped_column(sa.Text, default="")
    decision: Mapped[LineDecision] = mapped_column(enum_column(LineDecision),
                                                   default=LineDecision.PENDING)
    counter_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    agreed_amount: Mapped[Decimal | None] = mapped_column(MONEY)

    submission = relationship("FeeReviewSubmission", back_populates="lines")
    lot = relationship("Lot")

    @property
    def is_weekly_fee(self) -> bool:
        return self.placement_type_id is not None

    @property
    def requested_amount(self) -> Decimal:
        """What the provider asks: its proposal, or the current price when it asks no change."""
        return self.proposed_amount if self.proposed_amount is not None else self.current_amount


class FeeReviewMessage(db.Model):
    """The negotiation thread of a submission (append-only)."""
    __tablename__ = "fee_review_messages"
    __table_args__ = (sa.Index("ix_fee_review_messages_submission", "submission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_review_submissions.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    from_provider: Mapped[bool]
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author = relationship("User")
