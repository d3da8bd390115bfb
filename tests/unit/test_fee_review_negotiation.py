"""Reviewing proposals: accept, counter or reject each line; the provider's
answer to a counter-offer; four eyes on agreements above guidance; bulk
acceptance within guidance; agreed prices in force from the effective date
without rewriting history."""
from datetime import date

import pytest

from app.domain import fee_review
from app.domain.fee_review import DecisionInput, FeeReviewError, LineInput, ResponseInput
from app.domain.prices import current_prices, price_on
from app.domain.states import LineDecision, PriceSource, Role, SubmissionStatus
from app.extensions import db
from app.models import AuditEvent, FeeReviewMessage, Price, User
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, submission_of)

OPENED = date(2027, 1, 4)
EFFECTIVE = date(2027, 4, 1)
A, C, R = LineDecision.ACCEPTED, LineDecision.COUNTERED, LineDecision.REJECTED


@pytest.fixture
def staff(app_ctx):
    return {"evaluator": make_staff(Role.EVALUATOR, full_name="Tom Okafor"),
            "manager": make_staff(Role.MANAGER, full_name="Helen Murray"),
            "manager2": make_staff(Role.MANAGER, full_name="Marcus Reid")}


@pytest.fixture
def round(dps, staff, time_machine):
    """Guidance 4 %, cap 10 %, lots 1 and 2, opened 4 January 2027."""
    time_machine.move_to(OPENED)
    return new_round(dps, staff["manager"], dps.lots[:2], cap_uplift=D("10"))


def invite(round, staff):
    open_and_invite(round, staff["manager"], OPENED)


def provider_user(provider) -> User:
    return User.query.filter_by(provider_id=provider.id).one()


def submitted(round, provider, amounts, justification="Staff costs: NLW +6.7 %"):
    """The provider proposes `amounts` (None: no change) and submits."""
    submission = submission_of(round, provider)
    user = provider_user(provider)
    proposals = {ln.id: LineInput(None if a is None else D(a), "")
                 for ln, a in zip(submission.lines, amounts)}
    assert fee_review.save_proposal(submission, proposals, justification, None, user,
                                    ctx_for(user)) == {}
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    db.session.commit()
    return submission


def decide(submission, actor, *decisions):
    """decisions: (decision, counter, note) per line, None to leave a line."""
    given = {ln.id: DecisionInput(d[0], None if d[1] is None else D(d[1]), d[2])
             for ln, d in zip(submission.lines, decisions) if d is not None}
    status = fee_review.decide_lines(submission, given, actor, ctx_for(actor))
    db.session.commit()
    return status


@pytest.fixture
def two(dps, round, staff):
    """One provider within guidance, one above (weekly 1000 on lot 1)."""
    lot = dps.lots[0]
    within = member(lot, weekly=("1000",), rates=())
    above = member(lot, weekly=("1000",), rates=())
    invite(round, staff)
    return submitted(round, within, ["1035"]), submitted(round, above, ["1090"])


def test_accepting_a_line_within_guidance_agrees_the_submission(two, staff):
    within, _ = two
    status = decide(within, staff["evaluator"], (A, None, ""))
    assert status is SubmissionStatus.AGREED
    assert within.agreed_at is not None and within.agreed_by_id == staff["evaluator"].id
    assert within.prices_from == EFFECTIVE
    [line] = within.lines
    assert (line.decision, line.agreed_amount) == (A, D("1035"))
    assert within.agreed_total == D("1035")


def test_counter_offer_round_trip(two, staff, dps):
    """The commissioner counters 1090 with 1040 (within guidance); the
    provider accepts; the prices apply from the effective date."""
    _, above = two
    user = provider_user(above.provider)
    assert decide(above, staff["evaluator"], (C, "1040", "4 % is the guidance")) is \
        SubmissionStatus.NEGOTIATING
    [line] = above.lines
    assert (line.decision, line.counter_amount, line.agreed_amount) == (C, D("1040"), None)
    mails = fee_review.emails_after(above)
    assert [m.template for m in mails] == ["fee_review_counter_offer"]
    assert mails[0].to == user.email

    errors = fee_review.respond_to_counters(above, {line.id: ResponseInput(True, None)}, "",
                                            user, ctx_for(user), OPENED)
    db.session.commit()
    assert errors == {}
    assert line.decision is LineDecision.COUNTER_ACCEPTED and line.agreed_amount == D("1040")
    assert above.status is SubmissionStatus.AGREED      # within guidance: no second person
    assert above.agreement_proposed_by_id is None
    pt = dps.lots[0].placement_types[0].id
    assert price_on(above.provider_id, pt, date(2027, 3, 31)).amount == D("1000")
    assert price_on(above.provider_id, pt, EFFECTIVE).amount == D("1040")
    assert [m.template for m in fee_review.emails_after(above)] == ["fee_review_agreed"]


def test_the_provider_may_reply_to_a_counter_with_a_new_amount_and_a_message(two, staff):
    _, above = two
    user = provider_user(above.provider)
    decide(above, staff["evaluator"], (C, "1040", "4 % is the guidance"))
    [line] = above.lines
    errors = fee_review.respond_to_counters(above, {line.id: ResponseInput(False, D("1060"))},
                                            "", user, ctx_for(user), OPENED)
    assert errors == {"message": "Explain the price you ask in a message to the commissioners"}
    errors = fee_review.respond_to_counters(above, {line.id: ResponseInput(False, None)},
                                            "x", user, ctx_for(user), OPENED)
    assert errors == {f"line-{line.id}-response":
                      "Accept the counter-offer or enter the price you ask"}
    errors = fee_review.respond_to_counters(above, {line.id: ResponseInput(False, D("1200"))},
                                            "x", user, ctx_for(user), OPENED)
    assert "more than the cap of 10.00 %" in errors[f"line-{line.id}-amount"]
    assert above.status is SubmissionStatus.NEGOTIATING

    assert fee_review.respond_to_counters(
        above, {line.id: ResponseInput(False, D("1060"))}, "Our agency staff cost more",
        user, ctx_for(user), OPENED) == {}
    db.session.commit()
    assert above.status is SubmissionStatus.SUBMITTED
    assert (line.decision, line.proposed_amount, line.counter_amount) == \
        (LineDecision.PENDING, D("1060"), D("1040"))
    [message] = FeeReviewMessage.query.all()
    assert message.from_provider and message.body == "Our agency staff cost more"
    # Back with the commissioners: accepting 1060 (6 %) needs a second person.
    assert decide(above, staff["evaluator"], (A, None, "")) is \
        SubmissionStatus.AWAITING_APPROVAL


def test_reject_keeps_the_current_price_and_adds_no_price_rows(two, staff):
    within, _ = two
    before = Price.query.count()
    assert decide(within, staff["evaluator"], (R, None, "Budget is frozen")) is \
        SubmissionStatus.AGREED
    [line] = within.lines
    assert line.agreed_amount == D("1000") and line.decision_note == "Budget is frozen"
    assert Price.query.count() == before


@pytest.mark.parametrize("decision, counter, note, key, message", [
    (None, None, "", "decision", "Select accept, counter-offer or reject"),
    (C, None, "Too high", "counter", "Enter the price you offer"),
    (C, "0", "Too high", "counter", "Enter a price greater than £0"),
    (C, "1035", "Too high", "counter", "must differ from the price asked"),
    (C, "1020", "", "note", "Explain the counter-offer to the provider"),
    (R, None, " ", "note", "Explain to the provider why the current price stands"),
])
def test_decisions_are_validated(two, staff, decision, counter, note, key, message):
    within, _ = two
    [line] = within.lines
    given = {line.id: DecisionInput(decision, None if counter is None else D(counter), note)}
    errors = fee_review.validate_decisions(within, given)
    assert message in errors[f"line-{line.id}-{key}"]
    with pytest.raises(FeeReviewError) as exc:
        fee_review.decide_lines(within, given, staff["evaluator"], ctx_for(staff["evaluator"]))
    assert exc.value.errors == errors


def test_only_reviewers_decide_and_only_submitted_proposals(two, staff, dps):
    within, _ = two
    officer = make_staff(Role.MEMBER_OFFICER)
    with pytest.raises(FeeReviewError, match="Only evaluators and commissioning managers"):
        decide(within, officer, (A, None, ""))
    decide(within, staff["manager"], (A, None, ""))
    with pytest.raises(FeeReviewError, match="decide lines of a submitted proposal"):
        decide(within, staff["manager"], (R, None, "Changed my mind"))


# ------------------------------------------------------------- four eyes

def test_agreement_above_guidance_needs_a_different_manager(two, staff, dps):
    _, above = two
    assert decide(above, staff["manager"], (A, None, "")) is SubmissionStatus.AWAITING_APPROVAL
    assert above.agreement_proposed_by_id == staff["manager"].id
    assert fee_review.needs_second_approval(above)
    pt = dps.lots[0].placement_types[0].id
    assert price_on(above.provider_id, pt, EFFECTIVE).amount == D("1000")   # not yet
    assert not fee_review.can_approve(above, staff["manager"])
    with pytest.raises(FeeReviewError, match="different commissioning manager"):
        fee_review.approve_agreement(above, staff["manager"], ctx_for(staff["manager"]), OPENED)
    with pytest.raises(FeeReviewError, match="Only a commissioning manager"):
        fee_review.approve_agreement(above, staff["evaluator"], ctx_for(staff["evaluator"]),
                                     OPENED)
    assert fee_review.can_approve(above, staff["manager2"])
    fee_review.approve_agreement(above, staff["manager2"], ctx_for(staff["manager2"]), OPENED)
    db.session.commit()
    assert above.status is SubmissionStatus.AGREED
    assert above.agreed_by_id == staff["manager2"].id
    assert price_on(above.provider_id, pt, EFFECTIVE).amount == D("1090")
    event = AuditEvent.query.filter_by(action="fee_review_submission.agreed").one()
    assert event.actor_id == staff["manager2"].id
    assert event.after["proposed_by_id"] == staff["manager"].id


def test_an_evaluators_proposal_is_approved_by_a_manager(two, staff):
    _, above = two
    decide(above, staff["evaluator"], (A, None, ""))
    fee_review.approve_agreement(above, staff["manager"], ctx_for(staff["manager"]), OPENED)
    assert above.status is SubmissionStatus.AGREED


def test_a_counter_above_guidance_accepted_by_the_provider_needs_approval(two, staff):
    """The provider's acceptance settles it, but the counter was above
    guidance: the manager who countered may not approve it."""
    _, above = two
    decide(above, staff["manager"], (C, "1070", "We can go to 7 %"))
    user = provider_user(above.provider)
    [line] = above.lines
    fee_review.respond_to_counters(above, {line.id: ResponseInput(True, None)}, "", user,
                                   ctx_for(user), OPENED)
    db.session.commit()
    assert above.status is SubmissionStatus.AWAITING_APPROVAL
    assert above.agreement_proposed_by_id == staff["manager"].id
    with pytest.raises(FeeReviewError, match="different commissioning manager"):
        fee_review.approve_agreement(above, staff["manager"], ctx_for(staff["manager"]), OPENED)
    fee_review.approve_agreement(above, staff["manager2"], ctx_for(staff["manager2"]), OPENED)
    assert above.status is SubmissionStatus.AGREED and line.agreed_amount == D("1070")


def test_a_returned_agreement_can_be_decided_again(two, staff):
    _, above = two
    decide(above, staff["evaluator"], (A, None, ""))
    with pytest.raises(FeeReviewError, match="Enter why"):
        fee_review.return_agreement(above, " ", staff["manager"], ctx_for(staff["manager"]))
    fee_review.return_agreement(above, "9 % is too much: counter at 5 %", staff["manager"],
                                ctx_for(staff["manager"]))
    db.session.commit()
    assert above.status is SubmissionStatus.SUBMITTED
    [line] = above.lines
    assert line.decision is A      # stays decided, may be decided again
    outgoing = fee_review.returned_emails(above, "9 % is too much", staff["manager"],
                                          ("main.index", {}))
    assert [m.to for m in outgoing] == [staff["evaluator"].email]
    assert decide(above, staff["evaluator"], (C, "1050", "5 % is our limit")) is \
        SubmissionStatus.NEGOTIATING
    event = AuditEvent.query.filter_by(action="fee_review_submission.agreement_returned").one()
    assert event.reason == "9 % is too much: counter at 5 %"


# ------------------------------------------------------------- bulk accept

def test_bulk_accept_takes_lines_within_guidance_and_agrees_what_it_settles(dps, round, staff):
    lot = dps.lots[0]
    all_within = member(lot, weekly=("1000", "800"), rates=("20",))
    mixed = member(lot, weekly=("1000", "800"), rates=())
    decrease = member(lot, weekly=("1000",), rates=())
    not_chosen = member(lot, weekly=("1000",), rates=())
    invite(round, staff)
    s1 = submitted(round, all_within, ["1040", "820", "20.50"])   # 4 %, 2.5 %, 2.5 %
    s2 = submitted(round, mixed, ["1030", "880"])                # 3 %, 10 %
    s3 = submitted(round, decrease, ["990"])
    s4 = submitted(round, not_chosen, ["1010"])
    result = fee_review.bulk_accept_within_guidance(round, staff["evaluator"],
                                                    ctx_for(staff["evaluator"]),
                                                    [s1.id, s2.id, s3.id])
    db.session.commit()
    assert (result.submissions, result.lines, result.agreed) == (3, 5, 2)
    assert s1.status is SubmissionStatus.AGREED and s1.agreed_total == D("1860")
    assert s3.status is SubmissionStatus.AGREED
    assert s2.status is SubmissionStatus.SUBMITTED
    assert [ln.decision for ln in s2.lines] == [A, LineDecision.PENDING]
    assert s4.status is SubmissionStatus.SUBMITTED
    assert AuditEvent.query.filter_by(action="fee_review_submission.bulk_accepted").count() == 3
    # All submitted ones when no ids are given.
    result = fee_review.bulk_accept_within_guidance(round, staff["evaluator"],
                                                    ctx_for(staff["evaluator"]))
    assert (result.submissions, result.lines, result.agreed) == (1, 1, 1)
    assert s4.status is SubmissionStatus.AGREED


# ------------------------------------------------- prices and their history

def test_agreed_prices_roll_over_on_the_effective_date_and_history_stays(dps, round, staff):
    lot = dps.lots[0]
    provider = member(lot, weekly=("1000", "800"), rates=("20",),
                      custom=("Emergency assessment", "session", "175"))
    invite(round, staff)
    submission = submitted(round, provider, ["1040", None, "20.80", None])
    decide(submission, staff["evaluator"], (A, None, ""), None, (A, None, ""), None)
    assert submission.status is SubmissionStatus.AGREED
    pt0, pt1 = (pt.id for pt in lot.placement_types[:2])
    # The price on a past date, the current price and the new one from 1 April.
    assert price_on(provider.id, pt0, date(2025, 6, 1)).amount == D("1000")
    assert price_on(provider.id, pt0, date(2027, 3, 31)).amount == D("1000")
    assert price_on(provider.id, pt0, EFFECTIVE).amount == D("1040")
    assert price_on(provider.id, pt1, EFFECTIVE).amount == D("800")   # carried over
    new = current_prices(provider.id, lot.id, EFFECTIVE)
    assert sorted((p.amount, p.source, p.source_id) for p in new) == sorted([
        (D("1040"), PriceSource.FEE_REVIEW, submission.id),
        (D("800"), PriceSource.FEE_REVIEW, submission.id),
        (D("20.80"), PriceSource.FEE_REVIEW, submission.id),
        (D("175"), PriceSource.FEE_REVIEW, submission.id)])
    old = current_prices(provider.id, lot.id, date(2027, 3, 31))
    assert all(p.valid_to == EFFECTIVE and p.source is PriceSource.APPLICATION for p in old)
    assert sorted(p.amount for p in old) == [D("20"), D("175"), D("800"), D("1000")]


def test_agreed_after_the_effective_date_applies_from_the_day_agreed(dps, round, staff,
                                                                      time_machine):
    lot = dps.lots[0]
    provider = member(lot, weekly=("1000",), rates=())
    invite(round, staff)
    submission = submitted(round, provider, ["1030"])
    time_machine.move_to(date(2027, 4, 20))
    decide(submission, staff["evaluator"], (A, None, ""))
    assert submission.prices_from == date(2027, 4, 20)
    pt = lot.placement_types[0].id
    assert price_on(provider.id, pt, date(2027, 4, 19)).amount == D("1000")
    assert price_on(provider.id, pt, date(2027, 4, 20)).amount == D("1030")


def test_a_provider_on_two_lots_gets_both_lots_prices(dps, round, staff):
    fostering, residential = dps.lots[0], dps.lots[1]
    provider = member(fostering, weekly=("1000",), rates=())
    member(residential, provider, weekly=("4000",), rates=())
    invite(round, staff)
    submission = submitted(round, provider, ["1030", "4120"])
    decide(submission, staff["evaluator"], (A, None, ""), (A, None, ""))
    assert price_on(provider.id, fostering.placement_types[0].id, EFFECTIVE).amount == D("1030")
    assert price_on(provider.id, residential.placement_types[0].id, EFFECTIVE).amount == \
        D("4120")
    assert submission.agreed_total == D("5150")


# ---------------------------------------------------------------- messages

def test_both_sides_post_to_the_thread(two, staff, dps):
    within, _ = two
    user = provider_user(within.provider)
    fee_review.post_message(within, staff["evaluator"], "Can you send your staffing costs?",
                            ctx_for(staff["evaluator"]))
    fee_review.post_message(within, user, "Attached to the proposal.", ctx_for(user))
    db.session.commit()
    assert [(m.from_provider, m.body) for m in within.messages] == [
        (False, "Can you send your staffing costs?"), (True, "Attached to the proposal.")]
    with pytest.raises(FeeReviewError) as exc:
        fee_review.post_message(within, user, "  ", ctx_for(user))
    assert exc.value.errors == {"body": "Enter a message"}
    stranger = provider_user(member(dps.lots[0]))
    with pytest.raises(FeeReviewError):
        fee_review.post_message(within, stranger, "Hello", ctx_for(stranger))
