from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.reference import ServiceUnit
from app.domain.states import ApplicationStatus
from app.extensions import db
from app.models.base import MONEY, enum_column, utcnow


class Application(db.Model):
    """A provider's application to join one or more lots of a DPS."""
    __tablename__ = "applications"
    __table_args__ = (sa.Index("ix_applications_provider_status", "provider_id", "status"),
                      sa.Index("ix_applications_status_submitted", "status", "submitted_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    dps_id: Mapped[int] = mapped_column(sa.ForeignKey("dps.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus),
                                                      default=ApplicationStatus.DRAFT)
    reference: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    # Optimistic lock: bumped on every change so concurrent edits are detected.
    version: Mapped[int] = mapped_column(default=1)
    organisation_confirmed_at: Mapped[datetime | None]
    declarations_saved_at: Mapped[datetime | None]
    services_saved_at: Mapped[datetime | None]
    organisation_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    final_declaration_name: Mapped[str | None] = mapped_column(sa.String(200))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Evaluation: who has it, and time spent waiting on the provider, kept
    # apart from evaluation time.
    assigned_evaluator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime | None]
    evaluation_started_at: Mapped[datetime | None]
    waiting_since: Mapped[datetime | None]
    waiting_seconds: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}

    provider = relationship("Provider")
    dps = relationship("Dps")
    assigned_evaluator = relationship("User", foreign_keys=[assigned_evaluator_id])
    lots = relationship("ApplicationLot", back_populates="application",
                        cascade="all, delete-orphan", order_by="ApplicationLot.lot_id")
    ceiling_prices = relationship("CeilingPrice", back_populates="application",
                                  cascade="all, delete-orphan")
    service_rates = relationship("ServiceRate", back_populates="application",
                                 cascade="all, delete-orphan", order_by="ServiceRate.id")
    declaration_answers = relationship("DeclarationAnswer", back_populates="application",
                                       cascade="all, delete-orphan")
    quality_answers = relationship("QualityAnswer", back_populates="application",
                                   cascade="all, delete-orphan")

    def touch(self) -> None:
        """Mark a change to any part of the application (bumps the version)."""
        self.updated_at = utcnow()


class ApplicationLot(db.Model):
    """One lot applied for, with the settings offered under it."""
    __tablename__ = "application_lots"
    __table_args__ = (sa.UniqueConstraint("application_id", "lot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    terms_accepted_at: Mapped[datetime | None]
    terms_accepted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    application = relationship("Application", back_populates="lots")
    lot = relationship("Lot")
    setting_links = relationship("ApplicationLotSetting", cascade="all, delete-orphan")

    @property
    def setting_ids(self) -> set[int]:
        return {link.setting_id for link in self.setting_links}


class ApplicationLotSetting(db.Model):
    __tablename__ = "application_lot_settings"

    application_lot_id: Mapped[int] = mapped_column(sa.ForeignKey("application_lots.id"),
                                                    primary_key=True)
    setting_id: Mapped[int] = mapped_column(sa.ForeignKey("settings.id"), primary_key=True,
                                            index=True)
    setting = relationship("Setting")


class CeilingPrice(db.Model):
    """The weekly ceiling price offered for one placement type of a lot."""
    __tablename__ = "ceiling_prices"
    __table_args__ = (sa.UniqueConstraint("application_id", "placement_type_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    placement_type_id: Mapped[int] = mapped_column(sa.ForeignKey("placement_types.id"), index=True)
    weekly_price: Mapped[Decimal] = mapped_column(MONEY)

    application = relationship("Application", back_populates="ceiling_prices")
    placement_type = relationship("PlacementType")


class ServiceRate(db.Model):
    """A unit rate for a catalogue item, or the provider's own extra item."""
    __tablename__ = "service_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    service_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_items.id"))
    custom_name: Mapped[str | None] = mapped_column(sa.String(200))
    custom_unit: Mapped[ServiceUnit | None] = mapped_column(enum_column(ServiceUnit))
    rate: Mapped[Decimal] = mapped_column(MONEY)

    application = relationship("Application", back_populates="service_rates")
    service_item = relationship("ServiceItem")
    lot = relationship("Lot")

    @property
    def name(self) -> str:
        return self.service_item.name if self.service_item else (self.custom_name or "")

    @property
    def unit(self) -> ServiceUnit:
        return self.service_item.unit if self.service_item else self.custom_unit


class DeclarationAnswer(db.Model):
    __tablename__ = "declaration_answers"
    __table_args__ = (sa.UniqueConstraint("application_id", "ground"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    ground: Mapped[str] = mapped_column(sa.String(40))
    answer: Mapped[bool]
    explanation: Mapped[str] = mapped_column(sa.Text, default="")

    application = relationship("Application", back_populates="declaration_answers")


class QualityAnswer(db.Model):
    __tablename__ = "quality_answers"
    __table_args__ = (sa.UniqueConstraint("application_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("quality_questions.id"), index=True)
    answer: Mapped[str] = mapped_column(sa.Text, default="")

    application = relationship("Application", back_populates="quality_answers")
    question = relationship("QualityQuestion")
