"""What a fee review round achieved, per lot and overall: how many providers
were invited, responded and agreed, the uplift they asked for and the uplift
agreed, and the cost avoided (requested minus agreed), the figure
commissioners take to cabinet (London 2016-17: 3.6 % fostering, 8.9 %
residential, 6.2 % overall).

All figures are over weekly-fee lines (additional-service rates are priced
per hour, mile, ... and would not add up with weekly fees):
- current_total, requested_total: submissions that responded (submitted at
  least once); agreed_total: agreed submissions.
- requested_uplift = (requested / current - 1) x 100 over responded submissions.
- agreed_uplift = (agreed / current - 1) x 100 over agreed submissions.
- cost_avoidance_pct = (requested - agreed) / requested x 100 over agreed
  submissions; weekly_avoidance is that difference in pounds a week.
- annual_avoidance = average weekly avoidance per agreed weekly-fee line x the
  annual placement weeks the commissioner enters for the lot; overall, the sum
  of the lots'.
One aggregate query reads everything, whatever the number of providers.
"""
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from app.domain.states import SubmissionStatus
from app.extensions import db
from app.models import FeeReviewLine, FeeReviewRound, FeeReviewSubmission, Lot

CENT = Decimal("0.01")
SUM = sa.Numeric(16, 2)
ZERO = Decimal("0")


@dataclass
class Figures:
    invited: int
    responded: int
    agreed: int
    current_total: Decimal       # responded submissions' weekly fees now
    requested_total: Decimal     # what they asked
    agreed_total: Decimal        # agreed submissions' agreed weekly fees
    requested_uplift: Decimal | None
    agreed_uplift: Decimal | None
    cost_avoidance_pct: Decimal | None
    weekly_avoidance: Decimal    # GBP a week over agreed weekly-fee lines
    annual_avoidance: Decimal | None


@dataclass
class _Sums:
    """Raw sums for one lot (or overall) before percentages."""
    invited: int = 0
    responded: int = 0
    agreed: int = 0
    current: Decimal = ZERO            # responded
    requested: Decimal = ZERO          # responded
    agreed_current: Decimal = ZERO     # agreed
    agreed_requested: Decimal = ZERO   # agreed
    agreed_amount: Decimal = ZERO      # agreed
    agreed_lines: int = 0              # agreed weekly-fee lines


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _change(base: Decimal, new: Decimal) -> Decimal | None:
    return _q((new - base) * 100 / base) if base > 0 else None


def _figures(s: _Sums, annual_weeks: int | None) -> Figures:
    weekly = s.agreed_requested - s.agreed_amount
    annual = None
    if annual_weeks is not None and s.agreed_lines:
        annual = _q(weekly / s.agreed_lines * annual_weeks)
    return Figures(
        invited=s.invited, responded=s.responded, agreed=s.agreed,
        current_total=_q(s.current), requested_total=_q(s.requested),
        agreed_total=_q(s.agreed_amount),
        requested_uplift=_change(s.current, s.requested),
        agreed_uplift=_change(s.agreed_current, s.agreed_amount),
        cost_avoidance_pct=(_q(weekly * 100 / s.agreed_requested)
                            if s.agreed_requested > 0 else None),
        weekly_avoidance=_q(weekly), annual_avoidance=annual)


def _line_sums(round_id: int, lot_id_column):
    """Per `lot_id_column` grouping: the sums behind Figures."""
    S, L = FeeReviewSubmission, FeeReviewLine
    weekly = L.placement_type_id.is_not(None)
    responded = S.submitted_at.is_not(None)
    agreed = S.status == SubmissionStatus.AGREED

    def total(condition, value):
        # Typed as money so SQLite's float sums come back as exact pence.
        return sa.type_coerce(sa.func.coalesce(sa.func.sum(
            sa.case((sa.and_(weekly, condition), value), else_=None)), 0), SUM)
    requested = sa.func.coalesce(L.proposed_amount, L.current_amount)
    return (sa.select(
        lot_id_column,
        sa.func.count(sa.distinct(S.id)),
        sa.func.count(sa.distinct(sa.case((responded, S.id), else_=None))),
        sa.func.count(sa.distinct(sa.case((agreed, S.id), else_=None))),
        total(responded, L.current_amount), total(responded, requested),
        total(agreed, L.current_amount), total(agreed, requested),
        total(agreed, L.agreed_amount),
        sa.func.count(sa.case((sa.and_(weekly, agreed), L.id), else_=None)))
        .select_from(L).join(S, S.id == L.submission_id)
        .where(S.round_id == round_id))


def _sums(row) -> _Sums:
    return _Sums(invited=row[1], responded=row[2], agreed=row[3], current=Decimal(row[4]),
                 requested=Decimal(row[5]), agreed_current=Decimal(row[6]),
                 agreed_requested=Decimal(row[7]), agreed_amount=Decimal(row[8]),
                 agreed_lines=row[9])


def round_report(round: FeeReviewRound, annual_weeks: dict[int, int] | None = None
                 ) -> tuple[list[tuple[Lot, Figures]], Figures]:
    """Figures per lot of the round (in lot order) and overall. `annual_weeks`
    maps a lot id to the placement weeks a year the commissioner expects."""
    annual_weeks = annual_weeks or {}
    per_lot = {row[0]: _sums(row) for row in db.session.execute(
        _line_sums(round.id, FeeReviewLine.lot_id).group_by(FeeReviewLine.lot_id))}
    overall_row = db.session.execute(_line_sums(round.id, sa.literal(0))).one()
    lots = db.session.execute(
        sa.select(Lot).where(Lot.id.in_(round.lot_ids)).order_by(Lot.number)).scalars().all()
    rows = [(lot, _figures(per_lot.get(lot.id, _Sums()), annual_weeks.get(lot.id)))
            for lot in lots]
    overall = _figures(_sums(overall_row), None)
    # A provider invited with no price on the round's lots has no line: count
    # submissions themselves for the overall head counts.
    S = FeeReviewSubmission
    overall.invited, overall.responded, overall.agreed = db.session.execute(
        sa.select(sa.func.count(S.id),
                  sa.func.count(sa.case((S.submitted_at.is_not(None), S.id), else_=None)),
                  sa.func.count(sa.case((S.status == SubmissionStatus.AGREED, S.id),
                                        else_=None)))
        .where(S.round_id == round.id)).one()
    annuals = [f.annual_avoidance for _lot, f in rows if f.annual_avoidance is not None]
    overall.annual_avoidance = _q(sum(annuals, ZERO)) if annuals else None
    return rows, overall
