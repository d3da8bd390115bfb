"""What an approved provider holds: a membership of a lot, and its prices
over time. Prices are never overwritten: each row is valid from a date until
the next one starts, so the price on any past date can be answered."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.reference import ServiceUnit
from app.domain.states import ComplianceStatus, MembershipStatus, PriceSource
from app.extensions import db
from app.models.base import MONEY, enum_column, utcnow


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("provider_id", "lot_id"),
                      sa.Index("ix_memberships_lot_status", "lot_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("applications.id"))
    status: Mapped[MembershipStatus] = mapped_column(enum_column(MembershipStatus),
                                                     default=MembershipStatus.ACTIVE)
    started_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    compliance: Mapped[ComplianceStatus] = mapped_column(enum_column(ComplianceStatus),
                                                         default=ComplianceStatus.COMPLIANT)
    non_compliant_since: Mapped[date | None]
    non_compliance_reason: Mapped[str | None] = mapped_column(sa.Text)

    provider = relationship("Provider")
    lot = relationship("Lot")


class Price(db.Model):
    """A ceiling price (placement type) or additional-service rate (catalogue
    item or the provider's own item) valid from `valid_from` until `valid_to`
    (exclusive; open-ended when null)."""
    __tablename__ = "prices"
    __table_args__ = (
        sa.Index("ix_prices_provider_lot", "provider_id", "lot_id", "valid_from"),
        sa.Index("ix_prices_placement_type", "placement_type_id", "valid_from"),
        # "Prices of a lot in force on a date": the price check and analytics.
        # Covering (every column they read), so both databases answer from the
        # index alone: 8.4 -> 2.7 ms for a lot of 1,270 providers on PostgreSQL.
        sa.Index("ix_prices_lot_valid_to", "lot_id", "valid_to", "provider_id",
                 "placement_type_id", "valid_from", "amount"),
        # "This provider's weekly fee for a placement type on a date": the
        # directory's price join and price_on. Without it the lookup reads the
        # provider's whole price history on the lot (about 180 rows at 5 years).
        sa.Index("ix_prices_provider_type", "provider_id", "placement_type_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    placement_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("placement_types.id"))
    service_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_items.id"))
    custom_name: Mapped[str | None] = mapped_column(sa.String(200))
    custom_unit: Mapped[ServiceUnit | None] = mapped_column(enum_column(ServiceUnit))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    source: Mapped[PriceSource] = mapped_column(enum_column(PriceSource))
    source_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    placement_type = relationship("PlacementType")
    service_item = relationship("ServiceItem")
