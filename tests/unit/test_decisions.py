"""Recommendation, four-eyes moderation and the decision, with what an
approved lot gives the provider: an active membership and its prices."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain import applications as rules
from app.domain import decisions
from app.domain.audit import AuditContext
from app.domain.prices import current_prices, price_on
from app.domain.states import (LOT_EVALUATION_TRANSITIONS, ApplicationStatus as A,
                               IllegalTransition, LotEvaluationStatus as L, LotOutcome,
                               MembershipStatus, PriceSource, Role, next_lot_evaluation_status)
from app.extensions import db
from app.models import AuditEvent, Membership, Price
from tests.factories_evaluation import ctx_for, in_evaluation, make_staff

DAY = timedelta(days=1)
ON = date(2026, 5, 11)
APPROVE, REJECT = LotOutcome.APPROVE, LotOutcome.REJECT


# ------------------------------------------------------------ the state table

LOT_ACTIONS = sorted({action for (_, action) in LOT_EVALUATION_TRANSITIONS})


@pytest.mark.parametrize("state,action,target", [
    (s, a, t) for (s, a), t in LOT_EVALUATION_TRANSITIONS.items()])
def test_allowed_lot_transitions(state, action, target):
    assert next_lot_evaluation_status(state, action) is target


@pytest.mark.parametrize("state,action", [
    (s, a) for s in L for a in LOT_ACTIONS if (s, a) not in LOT_EVALUATION_TRANSITIONS])
def test_every_other_lot_transition_is_refused_with_a_message(state, action):
    with pytest.raises(IllegalTransition) as exc:
        next_lot_evaluation_status(state, action)
    assert state.label.lower() in str(exc.value)


# ------------------------------------------------------------ fixtures

@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR, full_name="Tom Okafor")


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray")


@pytest.fixture
def two_lots(dps, evaluator):
    return in_evaluation(dps, evaluator, lots=(1, 2))


@pytest.fixture
def one_lot(dps, evaluator):
    return in_evaluation(dps, evaluator, lots=(1,))


def lot_ev(application, number):
    return next(a.evaluation for a in application.lots if a.lot.number == number)


def do_recommend(application, number, user, outcome=APPROVE, feedback="Strong safeguarding."):
    ev = lot_ev(application, number)
    ready = decisions.recommend(ctx_for(user), application, ev, user, outcome=outcome,
                                reasons="Meets every criterion.", feedback=feedback,
                                version=ev.version)
    db.session.commit()
    return ready


def do_confirm(application, number, user, on=ON):
    ev = lot_ev(application, number)
    decided = decisions.confirm(ctx_for(user), application, ev, user, version=ev.version, on=on)
    db.session.commit()
    return decided


def events(action):
    return AuditEvent.query.filter_by(action=action).order_by(AuditEvent.id).all()


# ------------------------------------------------------------ recommend

def test_application_is_recommended_only_when_every_lot_is(two_lots, evaluator):
    assert do_recommend(two_lots, 1, evaluator) is False
    assert two_lots.status is A.IN_EVALUATION
    assert lot_ev(two_lots, 1).status is L.RECOMMENDED
    ev = lot_ev(two_lots, 1)
    assert ev.recommended_by_id == evaluator.id and ev.recommended_at is not None
    assert do_recommend(two_lots, 2, evaluator, REJECT) is True
    assert two_lots.status is A.RECOMMENDED
    # One event per state change: each lot (staff only) and the application (provider sees it).
    lot_events = events("lot_evaluation.recommended")
    assert [e.subject_id for e in lot_events] == [lot_ev(two_lots, 1).id, lot_ev(two_lots, 2).id]
    assert all(e.internal for e in lot_events)
    assert lot_events[1].after["recommendation"] == "reject"
    assert lot_events[0].reason == "Meets every criterion."
    [app_event] = events("application.recommended")
    assert not app_event.internal
    assert app_event.before == {"status": "in_evaluation"}
    assert app_event.after == {"status": "recommended"}


def test_recommending_needs_reasons_and_feedback(one_lot, evaluator):
    ev = lot_ev(one_lot, 1)
    for reasons, feedback, message in [("", "Good", "Enter your reasons"),
                                       ("Good", "  ", "Enter the feedback for the provider")]:
        with pytest.raises(decisions.DecisionError, match=message):
            decisions.recommend(ctx_for(evaluator), one_lot, ev, evaluator, outcome=APPROVE,
                                reasons=reasons, feedback=feedback, version=ev.version)
    assert ev.status is L.OPEN


def test_recommending_is_refused_outside_evaluation(one_lot, evaluator):
    one_lot.status = A.CLARIFICATION_REQUESTED
    db.session.commit()
    ev = lot_ev(one_lot, 1)
    with pytest.raises(IllegalTransition, match="clarification requested"):
        decisions.recommend(ctx_for(evaluator), one_lot, ev, evaluator, outcome=APPROVE,
                            reasons="r", feedback="f", version=ev.version)
    assert ev.status is L.OPEN and ev.recommendation is None


def test_a_lot_cannot_be_recommended_twice(two_lots, evaluator):
    do_recommend(two_lots, 1, evaluator)
    ev = lot_ev(two_lots, 1)
    with pytest.raises(IllegalTransition, match="awaiting moderation"):
        decisions.recommend(ctx_for(evaluator), two_lots, ev, evaluator, outcome=REJECT,
                            reasons="r", feedback="f", version=ev.version)


def test_a_stale_version_is_refused(one_lot, evaluator):
    ev = lot_ev(one_lot, 1)
    with pytest.raises(rules.VersionConflict):
        decisions.recommend(ctx_for(evaluator), one_lot, ev, evaluator, outcome=APPROVE,
                            reasons="r", feedback="f", version=ev.version + 1)
    assert ev.status is L.OPEN


# ------------------------------------------------------------ four eyes

def test_the_recommender_can_never_moderate_their_own_lot(one_lot, dps):
    boss = make_staff(Role.MANAGER)
    do_recommend(one_lot, 1, boss)
    ev = lot_ev(one_lot, 1)
    assert not decisions.can_moderate(ev, boss)
    with pytest.raises(decisions.FourEyesViolation, match="different commissioning manager"):
        decisions.confirm(ctx_for(boss), one_lot, ev, boss, version=ev.version, on=ON)
    with pytest.raises(decisions.FourEyesViolation):
        decisions.return_recommendation(ctx_for(boss), one_lot, ev, boss, comment="Hmm",
                                        version=ev.version)
    assert ev.status is L.RECOMMENDED and one_lot.status is A.RECOMMENDED


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.ADMIN, Role.MEMBER_OFFICER])
def test_only_managers_moderate(one_lot, evaluator, role):
    do_recommend(one_lot, 1, evaluator)
    other = make_staff(role)
    ev = lot_ev(one_lot, 1)
    with pytest.raises(decisions.NotAModerator):
        decisions.confirm(ctx_for(other), one_lot, ev, other, version=ev.version, on=ON)
    assert ev.status is L.RECOMMENDED


# ------------------------------------------------------------ return

def test_returning_reopens_the_lot_and_the_application(two_lots, evaluator, manager):
    do_recommend(two_lots, 1, evaluator)
    do_recommend(two_lots, 2, evaluator)
    ev = lot_ev(two_lots, 2)
    with pytest.raises(decisions.DecisionError, match="Enter your comments"):
        decisions.return_recommendation(ctx_for(manager), two_lots, ev, manager, comment=" ",
                                        version=ev.version)
    returned_to = decisions.return_recommendation(
        ctx_for(manager), two_lots, ev, manager, comment="Score Q2 again.", version=ev.version)
    db.session.commit()
    assert returned_to == evaluator.id
    assert ev.status is L.OPEN and ev.recommendation is None and ev.recommended_by_id is None
    assert ev.moderation_comment == "Score Q2 again." and ev.moderated_by_id == manager.id
    assert ev.feedback == "Strong safeguarding."  # kept to start the next recommendation
    assert two_lots.status is A.IN_EVALUATION
    assert lot_ev(two_lots, 1).status is L.RECOMMENDED
    [returned] = events("lot_evaluation.returned")
    assert returned.internal and returned.reason == "Score Q2 again."
    assert returned.before["recommended_by_id"] == evaluator.id
    [app_event] = events("application.returned_to_evaluation")
    assert not app_event.internal and app_event.after == {"status": "in_evaluation"}
    # Recommended again, by the manager this time: the evaluator cannot confirm it
    # (not a manager), and the manager who recommended it cannot either.
    do_recommend(two_lots, 2, manager)
    assert two_lots.status is A.RECOMMENDED
    with pytest.raises(decisions.FourEyesViolation):
        do_confirm(two_lots, 2, manager)


def test_a_lot_still_open_cannot_be_returned_or_confirmed(two_lots, evaluator, manager):
    do_recommend(two_lots, 1, evaluator)
    open_ev = lot_ev(two_lots, 2)
    with pytest.raises(IllegalTransition, match="being evaluated"):
        decisions.return_recommendation(ctx_for(manager), two_lots, open_ev, manager,
                                        comment="c", version=open_ev.version)
    # Lot 1 is recommended, but not every lot is: no confirming yet.
    with pytest.raises(IllegalTransition, match="once every lot"):
        do_confirm(two_lots, 1, manager)
    assert lot_ev(two_lots, 1).status is L.RECOMMENDED


# ------------------------------------------------------------ decision

def test_decided_when_every_lot_is_confirmed(two_lots, evaluator, manager):
    do_recommend(two_lots, 1, evaluator, APPROVE, "Well evidenced.")
    do_recommend(two_lots, 2, evaluator, REJECT, "Lot 2 needs Good homes.")
    assert do_confirm(two_lots, 1, manager) is False
    assert two_lots.status is A.RECOMMENDED and two_lots.decided_at is None
    ev = lot_ev(two_lots, 1)
    assert ev.status is L.DECIDED and ev.outcome is APPROVE and ev.decided_at is not None
    assert ev.moderated_by_id == manager.id
    assert do_confirm(two_lots, 2, manager) is True
    assert two_lots.status is A.DECIDED and two_lots.decided_at is not None
    assert lot_ev(two_lots, 2).outcome is REJECT
    with pytest.raises(IllegalTransition):
        do_confirm(two_lots, 2, manager)
    assert [e.subject_id for e in events("lot_evaluation.decided")] == [
        lot_ev(two_lots, 1).id, lot_ev(two_lots, 2).id]
    [decided] = events("application.decided")
    assert not decided.internal
    assert decided.after["outcomes"] == {"1": "approve", "2": "reject"}
    assert [d.feedback for d in decisions.lot_decisions(two_lots)] == [
        "Well evidenced.", "Lot 2 needs Good homes."]


def test_an_approved_lot_gives_a_membership_and_prices_from_the_decision_date(
        two_lots, evaluator, manager, dps):
    do_recommend(two_lots, 1, evaluator, APPROVE)
    do_recommend(two_lots, 2, evaluator, REJECT)
    do_confirm(two_lots, 1, manager)
    do_confirm(two_lots, 2, manager)
    lot1, lot2 = dps.lots[0], dps.lots[1]
    [membership] = Membership.query.filter_by(provider_id=two_lots.provider_id).all()
    assert membership.lot_id == lot1.id and membership.status is MembershipStatus.ACTIVE
    assert membership.started_on == ON and membership.application_id == two_lots.id
    pt = lot1.placement_types[0]
    offered = next(cp.weekly_price for cp in two_lots.ceiling_prices
                   if cp.placement_type_id == pt.id)
    assert price_on(two_lots.provider_id, pt.id, ON - DAY) is None
    assert price_on(two_lots.provider_id, pt.id, ON).amount == offered
    prices = current_prices(two_lots.provider_id, lot1.id, ON)
    # Every weekly fee and every service rate (catalogue and own items) of lot 1.
    expected = (len([cp for cp in two_lots.ceiling_prices if cp.placement_type.lot_id == lot1.id])
                + len([r for r in two_lots.service_rates if r.lot_id == lot1.id]))
    assert len(prices) == expected
    assert any(p.custom_name for p in prices)
    assert all(p.valid_from == ON and p.valid_to is None and p.source is PriceSource.APPLICATION
               and p.source_id == two_lots.id for p in prices)
    # The rejected lot gives nothing.
    assert Price.query.filter_by(provider_id=two_lots.provider_id, lot_id=lot2.id).count() == 0
    [created] = events("membership.created")
    assert created.subject_id == membership.id and not created.internal
    [priced] = events("membership.prices_set")
    assert len(priced.after["prices"]) == expected


def test_a_provider_back_on_a_lot_keeps_its_price_history(one_lot, evaluator, manager, dps):
    """An earlier membership (removed) and its prices: the new decision
    reactivates the membership and closes the old prices at the decision date."""
    lot = dps.lots[0]
    pt = lot.placement_types[0]
    earlier = date(2025, 4, 1)
    old = Membership(provider_id=one_lot.provider_id, lot_id=lot.id, started_on=earlier,
                     status=MembershipStatus.REMOVED)
    db.session.add(old)
    db.session.add(Price(provider_id=one_lot.provider_id, lot_id=lot.id, placement_type_id=pt.id,
                         amount=Decimal("870"), valid_from=earlier,
                         source=PriceSource.FEE_REVIEW))
    db.session.commit()
    do_recommend(one_lot, 1, evaluator)
    do_confirm(one_lot, 1, manager)
    assert Membership.query.filter_by(provider_id=one_lot.provider_id).count() == 1
    assert old.status is MembershipStatus.ACTIVE and old.started_on == ON
    assert old.application_id == one_lot.id
    assert price_on(one_lot.provider_id, pt.id, ON - DAY).amount == Decimal("870")
    assert price_on(one_lot.provider_id, pt.id, ON).amount != Decimal("870")
    previous = Price.query.filter_by(provider_id=one_lot.provider_id,
                                     amount=Decimal("870")).one()
    assert previous.valid_from == earlier and previous.valid_to == ON
    [event] = events("membership.reactivated")
    assert event.before["status"] == "removed" and event.after["status"] == "active"


# ------------------------------------------------------------ applying again

def test_a_rejected_lot_can_be_applied_for_again_an_approved_one_cannot(
        two_lots, evaluator, manager, dps):
    provider_id = two_lots.provider_id
    lot1, lot2 = dps.lots[0], dps.lots[1]
    assert set(rules.lots_taken(provider_id)) == {lot1.id, lot2.id}
    do_recommend(two_lots, 1, evaluator, APPROVE)
    do_recommend(two_lots, 2, evaluator, REJECT)
    do_confirm(two_lots, 1, manager)
    # Recommended for rejection is not yet a decision: still taken.
    assert set(rules.lots_taken(provider_id)) == {lot1.id, lot2.id}
    do_confirm(two_lots, 2, manager)
    assert set(rules.lots_taken(provider_id)) == {lot1.id}
    user = two_lots.provider.users[0] if two_lots.provider.users else None
    ctx = AuditContext(actor_id=user.id if user else None, actor_role="provider_admin")
    again = rules.start_application(ctx, two_lots.provider, user, [lot2], rules.today())
    db.session.commit()
    assert again.status is A.DRAFT
    with pytest.raises(rules.ApplicationError, match="cannot apply for the same lot twice"):
        rules.start_application(ctx, two_lots.provider, user, [lot1], rules.today())
