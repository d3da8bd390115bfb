"""Evaluation of a submitted application: per-lot evaluation, criteria,
scores, exclusion decisions, clarifications and the snapshots used to show an
evaluator what changed since they last looked."""
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.states import ExclusionOutcome, LotEvaluationStatus, LotOutcome
from app.extensions import db
from app.models.base import enum_column, utcnow


class LotEvaluation(db.Model):
    """The evaluation, recommendation, moderation and decision of one lot applied for."""
    __tablename__ = "lot_evaluations"
    __table_args__ = (sa.Index("ix_lot_evaluations_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_lot_id: Mapped[int] = mapped_column(sa.ForeignKey("application_lots.id"), unique=True)
    status: Mapped[LotEvaluationStatus] = mapped_column(enum_column(LotEvaluationStatus),
                                                        default=LotEvaluationStatus.OPEN)
    # Weighted quality total, 0-100, computed from the scores (never typed).
    quality_total: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 2))
    recommendation: Mapped[LotOutcome | None] = mapped_column(enum_column(LotOutcome))
    recommendation_reasons: Mapped[str | None] = mapped_column(sa.Text)
    recommended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recommended_at: Mapped[datetime | None]
    moderation_comment: Mapped[str | None] = mapped_column(sa.Text)
    moderated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    moderated_at: Mapped[datetime | None]
    outcome: Mapped[LotOutcome | None] = mapped_column(enum_column(LotOutcome))
    # What the provider is told, per lot.
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    application_lot = relationship("ApplicationLot", backref=sa.orm.backref("evaluation", uselist=False))
    criteria = relationship("CriterionCheck", back_populates="lot_evaluation",
                            cascade="all, delete-orphan", order_by="CriterionCheck.id")
    scores = relationship("QualityScore", back_populates="lot_evaluation",
                          cascade="all, delete-orphan")
    recommended_by = relationship("User", foreign_keys=[recommended_by_id])
    moderated_by = relationship("User", foreign_keys=[moderated_by_id])


class CriterionCheck(db.Model):
    """A minimum criterion: the system's finding from the evidence, and the
    evaluator's confirmation or override (an override keeps its note forever)."""
    __tablename__ = "criterion_checks"
    __table_args__ = (sa.UniqueConstraint("lot_evaluation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("lot_evaluations.id"))
    code: Mapped[str] = mapped_column(sa.String(60))  # e.g. "ofsted:12", "insurance:public_liability"
    label: Mapped[str] = mapped_column(sa.String(200))
    system_passed: Mapped[bool]
    system_detail: Mapped[str] = mapped_column(sa.Text, default="")
    confirmed_passed: Mapped[bool | None]
    overridden: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(sa.Text)
    checked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    checked_at: Mapped[datetime | None]

    lot_evaluation = relationship("LotEvaluation", back_populates="criteria")


class QualityScore(db.Model):
    __tablename__ = "quality_scores"
    __table_args__ = (sa.UniqueConstraint("lot_evaluation_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("lot_evaluations.id"))
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("quality_questions.id"))
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    scored_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot_evaluation = relationship("LotEvaluation", back_populates="scores")
    question = relationship("QualityQuestion")


class ExclusionDecision(db.Model):
    """The evaluator's decision on a declaration that was not a clean pass."""
    __tablename__ = "exclusion_decisions"
    __table_args__ = (sa.UniqueConstraint("application_id", "ground"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    ground: Mapped[str] = mapped_column(sa.String(40))
    evidence: Mapped[str] = mapped_column(sa.Text, default="")
    representations: Mapped[str] = mapped_column(sa.Text, default="")
    outcome: Mapped[ExclusionOutcome] = mapped_column(enum_column(ExclusionOutcome))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Clarification(db.Model):
    """A question an evaluator asks; the provider answers with text and an optional document."""
    __tablename__ = "clarifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    question: Mapped[str] = mapped_column(sa.Text)
    # Set when the question is about one ceiling price.
    placement_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("placement_types.id"))
    asked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answer_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id"))
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]

    placement_type = relationship("PlacementType")
    answer_document = relationship("Document")
    asked_by = relationship("User", foreign_keys=[asked_by_id])


class ApplicationSnapshot(db.Model):
    """The application's answers, prices and documents at a moment (submission,
    clarification answered), so an evaluator sees what changed since last time."""
    __tablename__ = "application_snapshots"
    __table_args__ = (sa.Index("ix_application_snapshots_app", "application_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(sa.String(40))
    data: Mapped[dict] = mapped_column(sa.JSON)


class SnapshotView(db.Model):
    """The latest snapshot each staff member has seen of an application."""
    __tablename__ = "snapshot_views"

    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(sa.ForeignKey("application_snapshots.id"))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
