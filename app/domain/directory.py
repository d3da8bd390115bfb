"""The approved-provider directory: which settings a member council can place
a child in, under one lot, filtered, priced and sorted in SQL.

A row is a setting offered under the lot by a provider with a membership of
it: a setting whose type the lot takes and, for a membership approved
through the portal, one the application offered under that lot. Only ACTIVE
memberships and settings that are not suspended are available. Commissioners
may also ask to see suspended ones: they are marked and always listed after
every available row, so they are never offered as available; member officers
never see them. REMOVED memberships never appear. Non-compliant memberships
are still members: they are shown, marked, after the compliant ones.

Price and distance are SQL expressions, so sorting and pagination happen in
the database: the price is the ceiling price in force on the day for the
chosen placement type (an outer join: a provider without one sorts last); the
distance is squared grid metres from the search point (app.domain.geo),
filtered first by a bounding box that can use ix_settings_grid.
"""
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.domain import geo
from app.domain.prices import in_force
from app.domain.reference import Gender, OfstedJudgement, SettingType
from app.domain.states import ComplianceStatus, ConcernStatus, MembershipStatus
from app.extensions import db
from app.models import (ApplicationLot, ApplicationLotSetting, Concern, Lot, Membership,
                        PlacementType, Price, Provider, Setting, SettingSpecialism)

PER_PAGE = 20
RADII_MILES = (5, 10, 20, 50)
DEFAULT_RADIUS_MILES = 20
SORT_PRICE = "price"
SORT_DISTANCE = "distance"
SORTS = {SORT_PRICE: "Price (cheapest first)", SORT_DISTANCE: "Distance (nearest first)"}
OPEN_CONCERN_STATUSES = (ConcernStatus.OPEN, ConcernStatus.INVESTIGATING)
# Judgements a search can ask for "at least".
MINIMUM_JUDGEMENTS = (OfstedJudgement.OUTSTANDING, OfstedJudgement.GOOD,
                      OfstedJudgement.REQUIRES_IMPROVEMENT)


class DirectoryError(Exception):
    """A search that cannot be run as asked; the message is written for staff."""


class LotNotVisible(DirectoryError):
    """The lot does not exist or is outside the person's access agreements."""


@dataclass(frozen=True)
class Access:
    """What one person may see: `lot_ids` None means every lot (lead-authority
    staff); `sees_suspended` is for commissioners only."""
    lot_ids: frozenset[int] | None
    sees_suspended: bool = False

    def can_see_lot(self, lot_id: int) -> bool:
        return self.lot_ids is None or lot_id in self.lot_ids


@dataclass(frozen=True)
class Criteria:
    lot_id: int
    placement_type_id: int | None = None
    min_judgement: OfstedJudgement | None = None
    age: int | None = None
    gender: Gender | None = None  # the child's; None for any
    specialisms: tuple[str, ...] = ()
    near: geo.Place | None = None
    radius_miles: int = DEFAULT_RADIUS_MILES
    sort: str = SORT_PRICE
    show_suspended: bool = False


@dataclass(frozen=True)
class Row:
    setting: Setting
    provider: Provider
    membership: Membership
    price: Decimal | None
    open_concerns: int
    distance_miles: float | None

    @property
    def suspended(self) -> bool:
        return self.membership.status is MembershipStatus.SUSPENDED or self.setting.is_suspended

    @property
    def compliant(self) -> bool:
        return self.membership.compliance is ComplianceStatus.COMPLIANT


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int
    lot: Lot
    placement_type: PlacementType | None
    criteria: Criteria
    per_page: int = PER_PAGE

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def access_for(lot_ids: set[int] | None, *, commissioner: bool) -> Access:
    return Access(None if lot_ids is None else frozenset(lot_ids), sees_suspended=commissioner)


def visible_lots(access: Access) -> list[Lot]:
    """The lots this person may search, with their placement types."""
    query = sa.select(Lot).options(selectinload(Lot.placement_types)) \
        .order_by(Lot.dps_id, Lot.number)
    if access.lot_ids is not None:
        query = query.where(Lot.id.in_(sorted(access.lot_ids)))
    return list(db.session.execute(query).scalars())


def radius_metres(miles: int) -> int:
    return round(miles * geo.METRES_PER_MILE)


# ------------------------------------------------------------------ the query

def _offered_under_lot(lot: Lot):
    """The setting is offered under the membership's lot: its type fits the
    lot and, when the membership came from an application, that application
    offered it under the lot (providers approved before the portal have no
    application, so every setting of a fitting type counts)."""
    offered = sa.exists().where(
        ApplicationLot.application_id == Membership.application_id,
        ApplicationLot.lot_id == Membership.lot_id,
        ApplicationLotSetting.application_lot_id == ApplicationLot.id,
        ApplicationLotSetting.setting_id == Setting.id)
    return sa.and_(Setting.setting_type.in_([SettingType(t) for t in lot.setting_types or []]),
                   sa.or_(Membership.application_id.is_(None), offered))


def _squared_distance(near: geo.Place):
    # BIGINT: squared metres overflow PostgreSQL's INTEGER beyond ~29 miles.
    dx = sa.cast(Setting.easting, sa.BigInteger) - near.easting
    dy = sa.cast(Setting.northing, sa.BigInteger) - near.northing
    return dx * dx + dy * dy


def _include_suspended(criteria: Criteria, access: Access) -> bool:
    return access.sees_suspended and criteria.show_suspended


def _conditions(criteria: Criteria, access: Access, lot: Lot) -> list:
    statuses = [MembershipStatus.ACTIVE]
    conditions = [_offered_under_lot(lot)]
    if _include_suspended(criteria, access):
        statuses.append(MembershipStatus.SUSPENDED)
    else:
        conditions.append(Setting.is_suspended.is_(False))
    conditions.append(Membership.status.in_(statuses))
    if criteria.min_judgement is not None:
        conditions.append(Setting.ofsted_judgement.in_(
            [j for j in OfstedJudgement if j.meets(criteria.min_judgement)]))
    if criteria.age is not None:
        conditions += [Setting.age_min <= criteria.age, Setting.age_max >= criteria.age]
    if criteria.gender is not None and criteria.gender is not Gender.ANY:
        conditions.append(Setting.gender.in_([Gender.ANY, criteria.gender]))
    for code in criteria.specialisms:
        conditions.append(sa.exists().where(SettingSpecialism.setting_id == Setting.id,
                                            SettingSpecialism.code == code))
    if criteria.near is not None:
        r = radius_metres(criteria.radius_miles)
        e0, n0 = criteria.near.easting, criteria.near.northing
        conditions += [Setting.easting.between(e0 - r, e0 + r),
                       Setting.northing.between(n0 - r, n0 + r),
                       _squared_distance(criteria.near) <= sa.literal(r * r, sa.BigInteger)]
    return conditions


def _from(query, lot: Lot, criteria: Criteria, on: date, *, with_price: bool):
    query = query.select_from(Setting) \
        .join(Provider, Provider.id == Setting.provider_id) \
        .join(Membership, sa.and_(Membership.provider_id == Setting.provider_id,
                                  Membership.lot_id == lot.id))
    if with_price and criteria.placement_type_id is not None:
        # replace_prices keeps at most one row in force per item and day, so
        # the join never repeats a setting.
        query = query.outerjoin(Price, sa.and_(
            Price.provider_id == Setting.provider_id, Price.lot_id == lot.id,
            Price.placement_type_id == criteria.placement_type_id, in_force(on)))
    return query


def _price_column(criteria: Criteria):
    if criteria.placement_type_id is None:
        return sa.null().label("price")
    return Price.amount.label("price")


def _open_concerns():
    return sa.select(sa.func.count(Concern.id)).where(
        Concern.provider_id == Setting.provider_id,
        Concern.status.in_(OPEN_CONCERN_STATUSES)
    ).correlate(Setting).scalar_subquery().label("open_concerns")


def _order(criteria: Criteria):
    # Available and compliant, then available but non-compliant, then
    # suspended (staff only): a suspended row is never ranked as available.
    group = sa.case(
        (sa.or_(Membership.status == MembershipStatus.SUSPENDED,
                Setting.is_suspended.is_(True)), 2),
        (Membership.compliance != ComplianceStatus.COMPLIANT, 1), else_=0)
    by_price = []
    if criteria.placement_type_id is not None:
        by_price = [sa.case((Price.amount.is_(None), 1), else_=0), Price.amount]
    by_distance = [_squared_distance(criteria.near)] if criteria.near is not None else []
    name = sa.func.lower(sa.func.coalesce(sa.func.nullif(Provider.trading_name, ""),
                                          Provider.legal_name))
    tail = [name, sa.func.lower(Setting.name), Setting.id]
    if criteria.sort == SORT_DISTANCE:
        return [group, *by_distance, *by_price, *tail]
    return [group, *by_price, *by_distance, *tail]


def _columns(criteria: Criteria) -> list:
    distance = (_squared_distance(criteria.near) if criteria.near is not None
                else sa.null()).label("distance2")
    return [Setting, Provider, Membership, _price_column(criteria), _open_concerns(), distance]


def _row(criteria: Criteria, setting, provider, membership, price, open_concerns, _d2) -> Row:
    miles = None
    if criteria.near is not None and setting.easting is not None:
        miles = round(math.hypot(setting.easting - criteria.near.easting,
                                 setting.northing - criteria.near.northing)
                      / geo.METRES_PER_MILE, 1)
    return Row(setting, provider, membership, price, int(open_concerns or 0), miles)


def _prepare(criteria: Criteria, access: Access) -> tuple[Lot, PlacementType | None]:
    """The lot and placement type, after the access and consistency checks."""
    if not access.can_see_lot(criteria.lot_id):
        raise LotNotVisible("Select a lot from the list")
    lot = db.session.get(Lot, criteria.lot_id)
    if lot is None:
        raise LotNotVisible("Select a lot from the list")
    placement_type = None
    if criteria.placement_type_id is not None:
        placement_type = next((pt for pt in lot.placement_types
                               if pt.id == criteria.placement_type_id), None)
        if placement_type is None:
            raise DirectoryError("Select a placement type of this lot")
    if criteria.sort == SORT_DISTANCE and criteria.near is None:
        raise DirectoryError("Enter a postcode to sort by distance")
    if criteria.sort not in SORTS:
        raise DirectoryError("Select how to sort the results")
    return lot, placement_type


def search(criteria: Criteria, access: Access, on: date, page: int = 1,
           per_page: int = PER_PAGE) -> Page:
    """One page of the directory: one query for the count and one for the
    page (plus one for the specialisms of its settings). A page past the end
    shows the last page."""
    lot, placement_type = _prepare(criteria, access)
    conditions = _conditions(criteria, access, lot)
    total = db.session.execute(
        _from(sa.select(sa.func.count(Setting.id)), lot, criteria, on, with_price=False)
        .where(*conditions)).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    found = db.session.execute(
        _from(sa.select(*_columns(criteria)), lot, criteria, on, with_price=True)
        .where(*conditions)
        .options(selectinload(Setting.specialism_rows))
        .order_by(*_order(criteria))
        .limit(per_page).offset((page - 1) * per_page)).all()
    rows = [_row(criteria, *r) for r in found]
    return Page(rows, total, page, pages, lot, placement_type, criteria, per_page)


def all_rows(criteria: Criteria, access: Access, on: date,
             batch: int = 500) -> tuple[Lot, PlacementType | None, Iterator[Row]]:
    """Every matching row in order, fetched `batch` at a time so an export
    of the whole lot keeps memory flat. The checks run before this returns;
    the rows are read as the iterator is consumed."""
    lot, placement_type = _prepare(criteria, access)
    query = _from(sa.select(*_columns(criteria)), lot, criteria, on, with_price=True) \
        .where(*_conditions(criteria, access, lot)).order_by(*_order(criteria)) \
        .execution_options(yield_per=batch, stream_results=True)

    def rows() -> Iterator[Row]:
        for found in db.session.execute(query):
            yield _row(criteria, *found)
    return lot, placement_type, rows()
