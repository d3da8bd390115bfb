"""The benchmark data's running fee review is what the domain would have
written: every active member of Lots 1 and 2 invited with its prices in
force, providers at each stage, totals in step with the lines."""
from collections import Counter
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from app.bench_data import FEE_REVIEW_LOTS, generate
from app.domain import audit, fee_review
from app.domain.fee_review_report import round_report
from app.domain.prices import in_force
from app.domain.states import FeeReviewStatus, LineDecision, MembershipStatus, SubmissionStatus
from app.extensions import db
from app.models import FeeReviewLine, FeeReviewRound, FeeReviewSubmission, Lot, Membership, Price

TODAY = date(2026, 11, 25)


def test_the_running_round_matches_the_members_and_their_prices(app_ctx):
    generate(providers=5000, scale=0.02, seed=7, today=TODAY, echo=lambda _: None)
    round = FeeReviewRound.query.one()
    assert round.status is FeeReviewStatus.OPEN
    assert round.opens_on < TODAY <= round.closes_on <= round.effective_on
    assert round.effective_on == date(2027, 4, 1)
    lot_ids = set(db.session.execute(sa.select(Lot.id).where(Lot.number.in_(FEE_REVIEW_LOTS)))
                  .scalars())
    assert set(round.lot_ids) == lot_ids
    members = set(db.session.execute(
        sa.select(Membership.provider_id).where(Membership.lot_id.in_(lot_ids),
                                                Membership.status == MembershipStatus.ACTIVE))
        .scalars())
    submissions = FeeReviewSubmission.query.filter_by(round_id=round.id).all()
    assert {s.provider_id for s in submissions} == members
    # One line per price in force today on an active membership of the round's lots.
    prices = db.session.execute(
        sa.select(sa.func.count()).select_from(Price).join(
            Membership, sa.and_(Membership.provider_id == Price.provider_id,
                                Membership.lot_id == Price.lot_id))
        .where(Price.lot_id.in_(lot_ids), Membership.status == MembershipStatus.ACTIVE,
               in_force(TODAY))).scalar()
    assert FeeReviewLine.query.count() == prices
    stages = Counter(s.status for s in submissions)
    assert stages[SubmissionStatus.INVITED] and stages[SubmissionStatus.SUBMITTED]
    assert SubmissionStatus.AGREED not in stages
    for submission in submissions:
        weekly = [ln for ln in submission.lines if ln.is_weekly_fee]
        assert submission.current_total == sum((ln.current_amount for ln in weekly), Decimal(0))
        assert submission.requested_total == sum((ln.requested_amount for ln in weekly),
                                                 Decimal(0))
        assert submission.above_guidance == any(
            fee_review.exceeds(ln.current_amount, ln.requested_amount, round.guidance_uplift)
            for ln in submission.lines)
        decisions = {ln.decision for ln in submission.lines}
        if submission.status is SubmissionStatus.NEGOTIATING:
            assert LineDecision.COUNTERED in decisions
        if submission.status is SubmissionStatus.SUBMITTED:
            assert LineDecision.PENDING in decisions
        if submission.status is SubmissionStatus.AWAITING_APPROVAL:
            assert decisions <= {LineDecision.ACCEPTED} and submission.above_guidance
    # The queue and the report work on it, and the audit chain verifies.
    rows, total = fee_review.review_queue(round, status=SubmissionStatus.SUBMITTED,
                                          sort="uplift", per_page=10)
    assert total == stages[SubmissionStatus.SUBMITTED] and len(rows) == min(10, total)
    per_lot, overall = round_report(round)
    assert overall.invited == len(submissions)
    assert overall.responded == sum(n for s, n in stages.items()
                                    if s not in (SubmissionStatus.INVITED,
                                                 SubmissionStatus.DRAFT))
    checked, bad = audit.verify_chain()
    assert bad == []
