"""What approved providers charge on a lot today, so an evaluator can see where
a new ceiling price sits: count, minimum, quartiles, median, maximum, and
whether the price is an outlier (Tukey's fences: beyond 1.5 times the
interquartile range from the quartiles)."""
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from app.domain.states import MembershipStatus
from app.extensions import db
from app.models import Membership, Price

PENNY = Decimal("0.01")
# Quartiles of fewer prices say little, so no price is flagged against them.
MIN_TO_COMPARE = 4
FENCE = Decimal("1.5")
HIGH = "high"
LOW = "low"


def percentile(ordered: list[Decimal], fraction: Decimal) -> Decimal:
    """Linear interpolation between the closest ranks, as PostgreSQL's
    percentile_cont does, so the figures match a report run in SQL."""
    if not ordered:
        raise ValueError("no amounts")
    position = (len(ordered) - 1) * Decimal(fraction)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    share = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * share


@dataclass(frozen=True)
class Distribution:
    """Weekly ceiling prices of one placement type among approved providers."""
    count: int
    minimum: Decimal | None = None
    lower_quartile: Decimal | None = None
    median: Decimal | None = None
    upper_quartile: Decimal | None = None
    maximum: Decimal | None = None

    @property
    def enough(self) -> bool:
        return self.count >= MIN_TO_COMPARE

    def fences(self) -> tuple[Decimal, Decimal] | None:
        if not self.enough:
            return None
        spread = (self.upper_quartile - self.lower_quartile) * FENCE
        return self.lower_quartile - spread, self.upper_quartile + spread

    def flag(self, amount: Decimal) -> str | None:
        """HIGH or LOW when `amount` lies beyond a fence, else None (also when
        there are too few prices to compare)."""
        fences = self.fences()
        if fences is None:
            return None
        if amount > fences[1]:
            return HIGH
        if amount < fences[0]:
            return LOW
        return None


EMPTY = Distribution(count=0)


def distribution_of(amounts) -> Distribution:
    return _distribution_of_pence(sorted(int((Decimal(a) * 100).to_integral_value(ROUND_HALF_UP))
                                         for a in amounts))


def _distribution_of_pence(ordered: list[int]) -> Distribution:
    """From whole pence, sorted: integers sort and compare several times
    faster than Decimals, which matters for a lot of thousands of prices;
    only the five figures become Decimals."""
    if not ordered:
        return EMPTY

    def pounds(pence) -> Decimal:
        return (Decimal(pence) / 100).quantize(PENNY, ROUND_HALF_UP)

    def q(fraction: str) -> Decimal:
        position = (len(ordered) - 1) * Decimal(fraction)
        below = int(position)
        above = min(below + 1, len(ordered) - 1)
        return pounds(ordered[below] + (ordered[above] - ordered[below]) * (position - below))

    return Distribution(count=len(ordered), minimum=pounds(ordered[0]), lower_quartile=q("0.25"),
                        median=q("0.5"), upper_quartile=q("0.75"), maximum=pounds(ordered[-1]))


def price_distribution(lot_id: int, on_date: date) -> dict[int, Distribution]:
    """Per placement type id of the lot: the distribution of the ceiling prices
    valid on `on_date` of providers with an active membership of the lot.
    One query, whatever the number of providers; placement types nobody
    approved prices are absent (use EMPTY)."""
    # Whole pence: the database converts, so no Decimal is built per row.
    pence = sa.cast(sa.func.round(Price.amount * 100), sa.Integer)
    base = (sa.select(Price.placement_type_id, pence)
            .join(Membership, sa.and_(Membership.provider_id == Price.provider_id,
                                      Membership.lot_id == Price.lot_id))
            .where(Price.lot_id == lot_id,
                   Price.placement_type_id.is_not(None),
                   Membership.status == MembershipStatus.ACTIVE,
                   Price.valid_from <= on_date))
    # Open rows and rows closing after the date, as two index range scans on
    # ix_prices_lot_valid_to: an OR of the two reads the lot's whole history.
    in_force = sa.union_all(base.where(Price.valid_to.is_(None)),
                            base.where(Price.valid_to > on_date))
    if db.engine.dialect.name == "postgresql":
        return _distribution_in_sql(in_force.subquery())
    # Elsewhere (SQLite) one row per placement type with its amounts joined
    # into text: a national lot's thousands of rows would each cost a Python
    # row object; splitting one string costs almost nothing.
    listed = in_force.subquery()
    rows = db.session.execute(
        sa.select(listed.c.placement_type_id, sa.func.group_concat(listed.c[1], ","))
        .group_by(listed.c.placement_type_id)).all()
    return {pt: _distribution_of_pence(sorted(int(p) for p in joined.split(",")))
            for pt, joined in rows if joined}


def _distribution_in_sql(in_force) -> dict[int, Distribution]:
    """PostgreSQL works the figures out itself (percentile_cont interpolates
    exactly as `percentile` does): five numbers per placement type cross the
    wire instead of every price, which keeps /prices/ fast for a national lot."""
    pence = in_force.c[1]

    def q(fraction: float):
        return sa.func.percentile_cont(fraction).within_group(pence)
    rows = db.session.execute(
        sa.select(in_force.c.placement_type_id, sa.func.count(), sa.func.min(pence),
                  q(0.25), q(0.5), q(0.75), sa.func.max(pence))
        .group_by(in_force.c.placement_type_id)).all()

    def pounds(pence_value) -> Decimal:
        # percentile_cont returns double precision: round to a whole penny
        # fraction first so binary noise cannot tip a half-penny.
        exact = Decimal(repr(float(pence_value))).quantize(Decimal("0.000001"))
        return (exact / 100).quantize(PENNY, ROUND_HALF_UP)
    return {pt: Distribution(count=n, minimum=pounds(lo), lower_quartile=pounds(q1),
                             median=pounds(q2), upper_quartile=pounds(q3), maximum=pounds(hi))
            for pt, n, lo, q1, q2, q3, hi in rows}
