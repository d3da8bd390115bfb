"""A provider's prices over time.

A Price row holds one ceiling price (per placement type) or additional-service
rate (catalogue item or the provider's own item) from `valid_from` until
`valid_to` (exclusive; open-ended when null). Amounts are never changed in
place: new prices close the rows in force and add new ones, so the price on
any past date can still be answered (what a placement agreed then costs).
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.domain.reference import ServiceUnit
from app.domain.states import PriceSource
from app.extensions import db
from app.models import Price


@dataclass(frozen=True)
class NewPrice:
    """One price to put in force: exactly one of placement_type_id,
    service_item_id or custom_name (with custom_unit) identifies it."""
    amount: Decimal
    placement_type_id: int | None = None
    service_item_id: int | None = None
    custom_name: str | None = None
    custom_unit: ServiceUnit | None = None


def in_force(on: date):
    """SQL condition: the row applies on `on`."""
    return sa.and_(Price.valid_from <= on,
                   sa.or_(Price.valid_to.is_(None), Price.valid_to > on))


def _sort_key(price: Price):
    # Weekly fees first in the lot's order, then its catalogue, then own items.
    if price.placement_type_id is not None:
        return (0, price.placement_type.position if price.placement_type else 0, price.id)
    if price.service_item_id is not None:
        return (1, price.service_item.position if price.service_item else 0, price.id)
    return (2, (price.custom_name or "").lower(), price.id)


def current_prices(provider_id: int, lot_id: int, on: date) -> list[Price]:
    """Every price of the provider on the lot that applies on `on` (any date,
    past or future), weekly fees first."""
    rows = db.session.execute(
        sa.select(Price)
        .where(Price.provider_id == provider_id, Price.lot_id == lot_id, in_force(on))
        .options(selectinload(Price.placement_type), selectinload(Price.service_item))
    ).scalars().all()
    return sorted(rows, key=_sort_key)


def price_on(provider_id: int, placement_type_id: int, on: date) -> Price | None:
    """The provider's weekly ceiling price for a placement type on `on`, or None."""
    return db.session.execute(
        sa.select(Price)
        .where(Price.provider_id == provider_id, Price.placement_type_id == placement_type_id,
               in_force(on))
        .order_by(Price.valid_from.desc(), Price.id.desc()).limit(1)
    ).scalar_one_or_none()


def replace_prices(provider_id: int, lot_id: int, on: date, new: list[NewPrice], *,
                   source: PriceSource, source_id: int | None) -> tuple[list[Price], list[Price]]:
    """Put `new` in force from `on` for the provider's lot.

    Every row still open on or after `on` ends at `on` (a row that had not
    started yet ends where it starts, so it never applies but stays on record).
    Returns (rows closed, rows added); nothing here commits.
    """
    open_rows = db.session.execute(
        sa.select(Price)
        .where(Price.provider_id == provider_id, Price.lot_id == lot_id,
               sa.or_(Price.valid_to.is_(None), Price.valid_to > on))
        .order_by(Price.id)
    ).scalars().all()
    for row in open_rows:
        row.valid_to = max(on, row.valid_from)
    added = [Price(provider_id=provider_id, lot_id=lot_id, placement_type_id=p.placement_type_id,
                   service_item_id=p.service_item_id, custom_name=p.custom_name,
                   custom_unit=p.custom_unit, amount=p.amount, valid_from=on, valid_to=None,
                   source=source, source_id=source_id)
             for p in new]
    db.session.add_all(added)
    db.session.flush()
    return open_rows, added


def price_label(price: Price) -> str:
    if price.placement_type is not None:
        return price.placement_type.name
    if price.service_item is not None:
        return price.service_item.name
    return price.custom_name or ""


def price_unit(price: Price) -> str:
    """"week" for a weekly fee, else the service's unit ("hour", "mile", ...)."""
    if price.placement_type_id is not None:
        return "week"
    unit = price.service_item.unit if price.service_item is not None else price.custom_unit
    return unit.value if unit is not None else ""
