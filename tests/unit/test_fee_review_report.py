"""The round's report on a hand-worked example: invited, responded, agreed,
requested and agreed uplift, cost avoidance per lot and overall.

Guidance 4 %, cap 15 %. Weekly fees (additional-service rates are left out):

Fostering (annual volume 5,200 placement weeks)
  F1  1,000 asks 1,050, counter 1,030 accepted    agreed
  F2    900 asks   945, accepted, second approval agreed
  F3    800 asks   840, not decided yet           responded
  F4    700 never answers                         invited
  responded: current 2,700, requested 2,835 -> requested uplift 5.00 %
  agreed:    current 1,900, requested 1,995, agreed 1,975
             agreed uplift 75 / 1,900 = 3.95 %; avoidance 20 / 1,995 = 1.00 %
             20 a week over 2 lines = 10 a line x 5,200 weeks = 52,000.00

Residential (annual volume 1,000 placement weeks)
  R1  4,000 asks 4,400, counter 4,100 accepted    agreed
  R2  3,500 asks no change                        agreed at once
  responded = agreed: current 7,500, requested 7,900, agreed 7,600
  requested uplift 400 / 7,500 = 5.33 %; agreed uplift 100 / 7,500 = 1.33 %
  avoidance 300 / 7,900 = 3.80 %; 300 a week over 2 lines = 150 x 1,000 = 150,000.00

Overall: invited 6, responded 5, agreed 4
  requested uplift 535 / 10,200 = 5.25 %; agreed uplift 175 / 9,400 = 1.86 %
  avoidance 320 / 9,895 = 3.23 %, 320 a week; annual 52,000 + 150,000 = 202,000.00
"""
from datetime import date

import pytest

from app.domain import fee_review
from app.domain.fee_review import DecisionInput, LineInput, ResponseInput
from app.domain.fee_review_report import round_report
from app.domain.states import LineDecision, Role
from app.extensions import db
from app.models import User
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, submission_of)

OPENED = date(2027, 1, 4)


def _user(provider):
    return User.query.filter_by(provider_id=provider.id).one()


def _submit(round, provider, amounts):
    submission = submission_of(round, provider)
    user = _user(provider)
    proposals = {ln.id: LineInput(None if a is None else D(a), "")
                 for ln, a in zip(submission.lines, amounts)}
    assert fee_review.save_proposal(submission, proposals, "Costs rose", None, user,
                                    ctx_for(user)) == {}
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    db.session.commit()
    return submission


def _decide(submission, actor, *decisions):
    """One DecisionInput per pending line, in order."""
    pending = [ln for ln in submission.lines if ln.decision is LineDecision.PENDING]
    fee_review.decide_lines(submission, {ln.id: d for ln, d in zip(pending, decisions)},
                            actor, ctx_for(actor))
    db.session.commit()


def _accept_counter(submission):
    user = _user(submission.provider)
    fee_review.respond_to_counters(
        submission, {ln.id: ResponseInput(True, None) for ln in submission.lines
                     if ln.decision is LineDecision.COUNTERED}, "", user, ctx_for(user), OPENED)
    db.session.commit()


@pytest.fixture
def worked(dps, time_machine):
    time_machine.move_to(OPENED)
    fostering, residential = dps.lots[0], dps.lots[1]
    evaluator, manager = make_staff(Role.EVALUATOR), make_staff(Role.MANAGER)
    f1 = member(fostering, weekly=("1000",), rates=("20",))
    f2 = member(fostering, weekly=("900",), rates=())
    f3 = member(fostering, weekly=("800",), rates=())
    member(fostering, weekly=("700",), rates=())
    r1 = member(residential, weekly=("4000",), rates=("45",))
    r2 = member(residential, weekly=("3500",), rates=())
    round = new_round(dps, manager, [fostering, residential], cap_uplift=D("15"))
    open_and_invite(round, manager, OPENED)

    s = _submit(round, f1, ["1050", "22"])   # the rate is left out of the figures
    _decide(s, evaluator,
            DecisionInput(LineDecision.COUNTERED, D("1030"), "3 % is what we can do"),
            DecisionInput(LineDecision.REJECTED, None, "Rates stay this year"))
    _accept_counter(s)
    s = _submit(round, f2, ["945"])
    _decide(s, evaluator, DecisionInput(LineDecision.ACCEPTED))
    fee_review.approve_agreement(s, manager, ctx_for(manager), OPENED)
    db.session.commit()
    _submit(round, f3, ["840"])
    s = _submit(round, r1, ["4400", None])
    _decide(s, evaluator, DecisionInput(LineDecision.COUNTERED, D("4100"), "2.5 %"))
    _accept_counter(s)
    _submit(round, r2, [None])
    states = sorted(sub.status.value for sub in round_submissions(round))
    assert states == ["agreed"] * 4 + ["invited", "submitted"]
    return round, fostering, residential


def round_submissions(round):
    from app.models import FeeReviewSubmission
    return FeeReviewSubmission.query.filter_by(round_id=round.id).all()


def test_cost_avoidance_on_the_hand_worked_example(worked):
    round, fostering, residential = worked
    per_lot, overall = round_report(round, {fostering.id: 5200, residential.id: 1000})
    assert [lot.id for lot, _ in per_lot] == [fostering.id, residential.id]
    f, r = per_lot[0][1], per_lot[1][1]

    assert (f.invited, f.responded, f.agreed) == (4, 3, 2)
    assert (f.current_total, f.requested_total, f.agreed_total) == (D("2700.00"), D("2835.00"),
                                                                    D("1975.00"))
    assert f.requested_uplift == D("5.00")
    assert f.agreed_uplift == D("3.95")
    assert f.cost_avoidance_pct == D("1.00")
    assert f.weekly_avoidance == D("20.00")
    assert f.annual_avoidance == D("52000.00")

    assert (r.invited, r.responded, r.agreed) == (2, 2, 2)
    assert (r.current_total, r.requested_total, r.agreed_total) == (D("7500.00"), D("7900.00"),
                                                                    D("7600.00"))
    assert (r.requested_uplift, r.agreed_uplift) == (D("5.33"), D("1.33"))
    assert r.cost_avoidance_pct == D("3.80")
    assert r.weekly_avoidance == D("300.00")
    assert r.annual_avoidance == D("150000.00")

    assert (overall.invited, overall.responded, overall.agreed) == (6, 5, 4)
    assert (overall.current_total, overall.requested_total, overall.agreed_total) == \
        (D("10200.00"), D("10735.00"), D("9575.00"))
    assert (overall.requested_uplift, overall.agreed_uplift) == (D("5.25"), D("1.86"))
    assert overall.cost_avoidance_pct == D("3.23")
    assert overall.weekly_avoidance == D("320.00")
    assert overall.annual_avoidance == D("202000.00")


def test_without_annual_volumes_there_is_no_annual_figure(worked):
    round, fostering, residential = worked
    per_lot, overall = round_report(round)
    assert all(f.annual_avoidance is None for _, f in per_lot)
    assert overall.annual_avoidance is None
    # A volume for one lot only: the overall figure is that lot's.
    per_lot, overall = round_report(round, {residential.id: 1000})
    assert per_lot[0][1].annual_avoidance is None
    assert overall.annual_avoidance == D("150000.00")


def test_a_round_nobody_answered_has_no_percentages(dps, time_machine):
    time_machine.move_to(OPENED)
    manager = make_staff(Role.MANAGER)
    member(dps.lots[0], weekly=("1000",), rates=())
    round = new_round(dps, manager, dps.lots[:2])
    open_and_invite(round, manager, OPENED)
    per_lot, overall = round_report(round, {dps.lots[0].id: 100})
    f, r = per_lot[0][1], per_lot[1][1]
    assert (f.invited, f.responded, f.agreed) == (1, 0, 0)
    assert f.requested_uplift is f.agreed_uplift is f.cost_avoidance_pct is None
    assert f.weekly_avoidance == D("0.00") and f.annual_avoidance is None
    assert (r.invited, r.current_total) == (0, D("0.00"))
    assert overall.invited == 1 and overall.requested_uplift is None


def test_the_report_is_one_query_per_grouping_whatever_the_size(worked):
    import sqlalchemy as sa
    round, fostering, _ = worked
    count = 0

    def before(*args, **kwargs):
        nonlocal count
        count += 1
    weeks = {fostering.id: 5200}
    db.session.expire_all()
    round = db.session.get(type(round), round.id)
    round.lot_ids  # noqa: B018  (loads the round's lots, as a view already has)
    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        round_report(round, weeks)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)
    assert count == 4   # per lot, overall sums, overall head counts, the lots
