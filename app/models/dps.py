from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.reference import OfstedJudgement, ServiceUnit
from app.extensions import db
from app.models.base import MONEY, enum_column


class Dps(db.Model):
    """A Dynamic Purchasing System run by a lead authority."""
    __tablename__ = "dps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    lead_authority: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    opens_on: Mapped[date]
    closes_on: Mapped[date]
    extendable_to: Mapped[date | None]
    reference_prefix: Mapped[str] = mapped_column(sa.String(10), default="DPS")

    lots = relationship("Lot", back_populates="dps", order_by="Lot.number")

    def is_open(self, on: date) -> bool:
        return self.opens_on <= on <= self.closes_on


class Lot(db.Model):
    __tablename__ = "lots"
    __table_args__ = (sa.UniqueConstraint("dps_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dps_id: Mapped[int] = mapped_column(sa.ForeignKey("dps.id"), index=True)
    number: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Setting types (SettingType values) whose Ofsted registration fits this lot.
    setting_types: Mapped[list] = mapped_column(sa.JSON, default=list)
    min_ofsted_judgement: Mapped[OfstedJudgement | None] = mapped_column(enum_column(OfstedJudgement))
    min_public_liability: Mapped[Decimal] = mapped_column(MONEY)
    min_employers_liability: Mapped[Decimal] = mapped_column(MONEY)
    min_professional_indemnity: Mapped[Decimal] = mapped_column(MONEY)
    max_weekly_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("25000"))
    discount_terms: Mapped[str] = mapped_column(sa.Text, default="")
    retainer_terms: Mapped[str] = mapped_column(sa.Text, default="")
    quality_scale_max: Mapped[int] = mapped_column(default=5)
    # Days after evidence expires before a non-compliant membership is suspended
    # automatically; None means commissioners decide.
    auto_suspend_after_days: Mapped[int | None]

    dps = relationship("Dps", back_populates="lots")
    placement_types = relationship("PlacementType", back_populates="lot",
                                   order_by="PlacementType.position")
    service_items = relationship("ServiceItem", back_populates="lot", order_by="ServiceItem.position")
    quality_questions = relationship("QualityQuestion", back_populates="lot",
                                     order_by="QualityQuestion.position")

    @property
    def title(self) -> str:
        return f"Lot {self.number}: {self.name}"

    def insurance_minimums(self) -> dict:
        from app.domain.reference import DocumentKind
        return {
            DocumentKind.PUBLIC_LIABILITY: self.min_public_liability,
            DocumentKind.EMPLOYERS_LIABILITY: self.min_employers_liability,
            DocumentKind.PROFESSIONAL_INDEMNITY: self.min_professional_indemnity,
        }


class PlacementType(db.Model):
    __tablename__ = "placement_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(default=0)

    lot = relationship("Lot", back_populates="placement_types")


class ServiceItem(db.Model):
    """An item of a lot's additional-services catalogue (e.g. 1:1 staffing per hour)."""
    __tablename__ = "service_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[ServiceUnit] = mapped_column(enum_column(ServiceUnit))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)

    lot = relationship("Lot", back_populates="service_items")


class QualityQuestion(db.Model):
    __tablename__ = "quality_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200))
    question: Mapped[str] = mapped_column(sa.Text)
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    word_limit: Mapped[int] = mapped_column(default=500)
    weight: Mapped[int] = mapped_column(default=10)  # percent of the quality score

    lot = relationship("Lot", back_populates="quality_questions")
