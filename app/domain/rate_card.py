"""The rate card a member authority's own brokerage tools read through the API:
approved providers on the authority's lots, their settings, current ceiling
prices and additional-service rates, and compliance.

A provider is listed while it holds an ACTIVE or SUSPENDED membership of a
lot the authority can see; a suspended membership is listed (so a brokerage
tool can tell a placement officer why a provider it knew has gone) but never
as available. REMOVED memberships, and lots outside the authority's current
agreements, are left out entirely: their prices are never returned.

A page costs the same handful of queries however many providers it holds.
"""
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.domain.prices import in_force
from app.domain.states import MembershipStatus
from app.extensions import db
from app.models import (AccessAgreement, AuditEvent, Authority, Lot, Membership, Price, Provider,
                        Setting)

LISTED = (MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED)
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25


def lots_for(authority: Authority, on: date) -> list[Lot]:
    """The lots an authority's token sees on `on`: every lot for the lead
    authority (as its staff see), else those of its current agreements."""
    query = sa.select(Lot).order_by(Lot.dps_id, Lot.number)
    if not authority.is_lead:
        query = query.where(Lot.id.in_(
            sa.select(AccessAgreement.lot_id).where(AccessAgreement.authority_id == authority.id,
                                                    AccessAgreement.starts_on <= on,
                                                    AccessAgreement.ends_on >= on)))
    return list(db.session.execute(query).scalars())


@dataclass
class SettingCard:
    setting: Setting
    lot_numbers: list[int]
    available: bool


@dataclass
class ProviderCard:
    provider: Provider
    memberships: list[Membership] = field(default_factory=list)
    settings: list[SettingCard] = field(default_factory=list)
    ceiling_prices: list[Price] = field(default_factory=list)
    additional_services: list[Price] = field(default_factory=list)

    @property
    def available(self) -> bool:
        """Can take referrals on at least one of the lots shown."""
        return any(m.status is MembershipStatus.ACTIVE for m in self.memberships)

    @property
    def suspended(self) -> bool:
        """Suspended from at least one of the lots shown."""
        return any(m.status is MembershipStatus.SUSPENDED for m in self.memberships)


@dataclass
class RateCardPage:
    cards: list[ProviderCard]
    total: int
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _listed_provider_ids(lot_ids):
    return sa.select(Membership.provider_id).where(Membership.lot_id.in_(lot_ids),
                                                   Membership.status.in_(LISTED))


def changed_since(since: datetime, lot_ids, on: date):
    """SQL condition: something on the provider's rate card changed at or
    after `since` (naive UTC): its details or a setting's, a membership
    starting, a price added or taking effect, or anything audited against the
    provider (suspensions, reinstatements, compliance, fee reviews)."""
    since_day = since.date()
    return sa.or_(
        Provider.updated_at >= since,
        sa.exists().where(Setting.provider_id == Provider.id, Setting.updated_at >= since),
        sa.exists().where(Membership.provider_id == Provider.id, Membership.lot_id.in_(lot_ids),
                          Membership.created_at >= since),
        sa.exists().where(Price.provider_id == Provider.id, Price.lot_id.in_(lot_ids),
                          sa.or_(Price.created_at >= since,
                                 sa.and_(Price.valid_from >= since_day, Price.valid_from <= on))),
        sa.exists().where(AuditEvent.provider_id == Provider.id, AuditEvent.occurred_at >= since),
    )


def providers_page(lots: list[Lot], on: date, *, page: int = 1,
                   per_page: int = DEFAULT_PER_PAGE,
                   updated_since: datetime | None = None) -> RateCardPage:
    """One page of rate cards over `lots`, in provider id order (stable, so a
    tool can walk every page while providers join)."""
    lot_ids = [lot.id for lot in lots]
    if not lot_ids:
        return RateCardPage([], 0, page, per_page)
    ids = sa.select(Provider.id).where(Provider.id.in_(_listed_provider_ids(lot_ids)))
    if updated_since is not None:
        ids = ids.where(changed_since(updated_since, lot_ids, on))
    total = db.session.execute(sa.select(sa.func.count()).select_from(ids.subquery())).scalar_one()
    page_ids = list(db.session.execute(
        ids.order_by(Provider.id).limit(per_page).offset((page - 1) * per_page)).scalars())
    return RateCardPage(_cards(page_ids, lots, on), total, page, per_page)


def provider_card(provider_id: int, lots: list[Lot], on: date) -> ProviderCard | None:
    """One provider's rate card, or None when it is not listed on `lots`."""
    if not lots:
        return None
    cards = _cards([provider_id], lots, on)
    return cards[0] if cards else None


def _cards(provider_ids: list[int], lots: list[Lot], on: date) -> list[ProviderCard]:
    if not provider_ids:
        return []
    lots_by_id = {lot.id: lot for lot in lots}
    memberships = db.session.execute(
        sa.select(Membership).where(Membership.provider_id.in_(provider_ids),
                                    Membership.lot_id.in_(lots_by_id),
                                    Membership.status.in_(LISTED))
    ).scalars().all()
    if not memberships:
        return []
    providers = db.session.execute(
        sa.select(Provider).where(Provider.id.in_({m.provider_id for m in memberships}))
        .options(selectinload(Provider.settings).selectinload(Setting.specialism_rows))
    ).scalars().all()
    prices = db.session.execute(
        sa.select(Price).where(Price.provider_id.in_(provider_ids),
                               Price.lot_id.in_(lots_by_id), in_force(on))
        .options(selectinload(Price.placement_type), selectinload(Price.service_item))
    ).scalars().all()

    cards = {p.id: ProviderCard(p) for p in providers}
    for membership in sorted(memberships, key=lambda m: lots_by_id[m.lot_id].number):
        cards[membership.provider_id].memberships.append(membership)
    listed = {(m.provider_id, m.lot_id): m for m in memberships}
    for price in sorted(prices, key=lambda p: _price_order(p, lots_by_id)):
        if (price.provider_id, price.lot_id) not in listed:
            continue  # a lot the provider was removed from
        card = cards[price.provider_id]
        (card.ceiling_prices if price.placement_type_id is not None
         else card.additional_services).append(price)
    for card in cards.values():
        card.settings = _setting_cards(card, lots_by_id)
    return [cards[pid] for pid in provider_ids if pid in cards]


def _setting_cards(card: ProviderCard, lots_by_id: dict[int, Lot]) -> list[SettingCard]:
    """The provider's settings that serve one of the lots shown (a home is not
    on the fostering lot), each with those lots and whether it can take a
    referral: not suspended itself and on an active membership."""
    out = []
    for setting in card.provider.settings:
        serving = [m for m in card.memberships
                   if setting.setting_type.value in (lots_by_id[m.lot_id].setting_types or [])]
        if not serving:
            continue
        out.append(SettingCard(
            setting=setting, lot_numbers=[lots_by_id[m.lot_id].number for m in serving],
            available=not setting.is_suspended
            and any(m.status is MembershipStatus.ACTIVE for m in serving)))
    return out


def _price_order(price: Price, lots_by_id: dict[int, Lot]):
    lot_number = lots_by_id[price.lot_id].number
    if price.placement_type is not None:
        return (lot_number, 0, price.placement_type.position, price.id)
    if price.service_item is not None:
        return (lot_number, 1, price.service_item.position, price.id)
    return (lot_number, 2, (price.custom_name or "").lower(), price.id)
