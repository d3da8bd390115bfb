"""Clarification rules: when questions may be asked and answered, the waiting
clock, recipients, and the price question an evaluator starts from."""
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import time_machine

from app.domain import clarifications as rules
from app.domain import snapshots
from app.domain.states import ApplicationStatus, IllegalTransition, MembershipStatus, \
    PriceSource, Role
from app.extensions import db
from app.models import ApplicationSnapshot, AuditEvent, Clarification, Membership, Price
from tests.factories import make_provider, make_user
from tests.factories_evaluation import (ctx_for, in_evaluation, make_staff, provider_user,
                                        submitted_application)

A = ApplicationStatus


@pytest.fixture
def evaluator(dps, app_ctx):
    return make_staff(Role.EVALUATOR, email="eve@lead.example")


def _events(application, action):
    return db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.subject_id == application.id,
                                    AuditEvent.action == action)).scalars().all()


def _state(application):
    db.session.refresh(application)
    return (application.status, application.version, application.waiting_since,
            application.waiting_seconds,
            db.session.query(Clarification).filter_by(application_id=application.id).count())


def test_questions_can_only_be_asked_in_evaluation(dps, evaluator):
    application = submitted_application(dps)
    before = _state(application)
    with pytest.raises(IllegalTransition, match="only ask for clarification while an "
                                                "application is in evaluation"):
        rules.ask(ctx_for(evaluator), application, evaluator, ["Why?"])
    db.session.rollback()
    assert _state(application) == before
    assert not _events(application, "application.clarification_requested")


def test_asking_moves_to_clarification_requested_and_starts_the_clock(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    with time_machine.travel(datetime(2026, 5, 4, 9, 0), tick=False):
        asked = rules.ask(ctx_for(evaluator), application, evaluator,
                          ["Why is your price higher than last year?", "  ", "Send your policy"])
        db.session.commit()
    assert [c.question for c in asked] == ["Why is your price higher than last year?",
                                           "Send your policy"]
    assert application.status is A.CLARIFICATION_REQUESTED
    assert application.waiting_since == datetime(2026, 5, 4, 9, 0)
    [event] = _events(application, "application.clarification_requested")
    assert event.internal is False and event.actor_id == evaluator.id
    assert event.before == {"status": "in_evaluation"}
    assert event.after["status"] == "clarification_requested"
    assert event.after["questions"] == [c.question for c in asked]


def test_a_request_needs_a_question(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    with pytest.raises(rules.ClarificationError, match="Enter a question"):
        rules.ask(ctx_for(evaluator), application, evaluator, ["", "   "])
    assert application.status is A.IN_EVALUATION


def test_answers_only_when_clarification_requested(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    user = provider_user(application)
    with pytest.raises(IllegalTransition, match="no questions to answer"):
        rules.answer(ctx_for(user), application, user, {})
    assert application.status is A.IN_EVALUATION


def test_every_open_question_needs_an_answer(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    first, second = rules.ask(ctx_for(evaluator), application, evaluator, ["One?", "Two?"])
    db.session.commit()
    before = _state(application)
    user = provider_user(application)
    with pytest.raises(rules.ClarificationError, match="Enter your answer to question 2"):
        rules.answer(ctx_for(user), application, user, {first.id: "Yes", second.id: " "})
    db.session.rollback()
    assert _state(application) == before
    assert first.answer is None


def test_waiting_time_is_kept_apart_from_evaluation_time(dps, evaluator):
    start = datetime(2026, 5, 1, 9, 0)
    with time_machine.travel(start, tick=False):
        application = in_evaluation(dps, evaluator)
    assert rules.evaluation_time(application, start + timedelta(hours=2)) == (7200, 0)

    with time_machine.travel(start + timedelta(hours=2), tick=False):
        [question] = rules.ask(ctx_for(evaluator), application, evaluator, ["Why?"])
        db.session.commit()
    # While waiting, the clock runs on the provider's side only.
    assert rules.evaluation_time(application, start + timedelta(days=1, hours=2)) == (
        7200, 86400)

    user = provider_user(application)
    with time_machine.travel(start + timedelta(days=3, hours=2), tick=False):
        rules.answer(ctx_for(user), application, user, {question.id: "Because."})
        db.session.commit()
    assert application.status is A.IN_EVALUATION
    assert application.waiting_since is None
    assert application.waiting_seconds == 3 * 86400
    assert question.answered_by_id == user.id
    assert rules.evaluation_time(application, start + timedelta(days=3, hours=5)) == (
        5 * 3600, 3 * 86400)
    [event] = _events(application, "application.clarification_answered")
    assert event.after["waited_seconds"] == 3 * 86400 and event.after["waited"] == "3 days"
    assert event.internal is False and "document" not in event.after

    # A second round adds to the total.
    with time_machine.travel(start + timedelta(days=4), tick=False):
        [again] = rules.ask(ctx_for(evaluator), application, evaluator, ["And?"])
        db.session.commit()
    with time_machine.travel(start + timedelta(days=4, hours=6), tick=False):
        rules.answer(ctx_for(user), application, user, {again.id: "Also."})
        db.session.commit()
    assert application.waiting_seconds == 3 * 86400 + 6 * 3600


def test_evaluation_time_stops_at_the_decision():
    started = datetime(2026, 1, 1)
    application = SimpleNamespace(evaluation_started_at=started, waiting_seconds=3600,
                                  waiting_since=None, decided_at=started + timedelta(days=2),
                                  withdrawn_at=None)
    assert rules.evaluation_time(application, started + timedelta(days=30)) == (
        2 * 86400 - 3600, 3600)
    not_started = SimpleNamespace(evaluation_started_at=None, waiting_seconds=0,
                                  waiting_since=None, decided_at=None, withdrawn_at=None)
    assert rules.evaluation_time(not_started, started) == (0, 0)


def test_duration_text():
    assert rules.duration_text(30) == "less than a minute"
    assert rules.duration_text(60) == "1 minute"
    assert rules.duration_text(2 * 3600 + 300) == "2 hours 5 minutes"
    assert rules.duration_text(86400) == "1 day"
    assert rules.duration_text(3 * 86400 + 4 * 3600 + 59) == "3 days 4 hours"


def test_answering_takes_a_snapshot_that_shows_the_answer(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    [question] = rules.ask(ctx_for(evaluator), application, evaluator, ["Why £925?"])
    db.session.commit()
    user = provider_user(application)
    rules.answer(ctx_for(user), application, user, {question.id: "It includes therapy."})
    db.session.commit()
    first, latest = snapshots.snapshots_of(application.id)
    assert (first.reason, latest.reason) == ("submitted", "clarification_answered")
    assert snapshots.diff(first.data, latest.data) == [snapshots.Change(
        "Clarifications", "Question 1", None,
        "Question: Why £925?\nAnswer: It includes therapy.")]
    assert db.session.query(ApplicationSnapshot).count() == 2


def test_recipients(dps, evaluator):
    provider = make_provider(contact_email="Office@Harbour.example")
    admin = make_user(Role.PROVIDER_ADMIN, provider, email="office@harbour.example")
    other_admin = make_user(Role.PROVIDER_ADMIN, provider, email="ceo@harbour.example")
    make_user(Role.PROVIDER_USER, provider, email="staff@harbour.example")
    make_user(Role.PROVIDER_ADMIN, provider, email="left@harbour.example",
              is_active_account=False)
    application = in_evaluation(dps, evaluator, provider=provider, user=admin)
    # The contact address is an administrator's too: it gets one email.
    assert rules.provider_recipients(application) == [admin.email, other_admin.email]

    manager = make_staff(Role.MANAGER, email="manager@lead.example")
    asked = rules.ask(ctx_for(manager), application, manager, ["Why?"])
    assert rules.evaluator_recipients(application, asked) == [evaluator.email, manager.email]


def _approved_price(dps, placement_type, amount, *, status=MembershipStatus.ACTIVE,
                    valid_from=date(2025, 4, 1), valid_to=None):
    provider = make_provider()
    lot = placement_type.lot
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, status=status,
                              started_on=date(2024, 4, 1)))
    db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                         placement_type_id=placement_type.id, amount=Decimal(amount),
                         valid_from=valid_from, valid_to=valid_to,
                         source=PriceSource.APPLICATION))


def test_price_question_names_the_upper_quartile_only_when_above_it(dps, evaluator):
    application = in_evaluation(dps, evaluator)
    price = application.ceiling_prices[0]
    pt = price.placement_type
    on = date(2026, 5, 1)
    plain = rules.price_question(application, pt, on)
    assert plain.startswith(f"Please explain your ceiling price of £{price.weekly_price:,.2f} "
                            f"a week for {pt.name}. Tell us what the price includes")
    assert "upper quartile" not in plain  # nobody approved yet

    for amount in ("700", "750", "800", "850"):
        _approved_price(dps, pt, amount)
    # An ended price and a suspended member's price do not count.
    _approved_price(dps, pt, "5000", valid_from=date(2024, 4, 1), valid_to=date(2025, 4, 1))
    _approved_price(dps, pt, "6000", status=MembershipStatus.SUSPENDED)
    db.session.commit()
    price.weekly_price = Decimal("900.00")
    assert ("Please explain your ceiling price of £900.00 a week for " + pt.name + ", which is "
            "above the upper quartile of approved providers' ceiling prices for this placement "
            "type (£812.50).") in rules.price_question(application, pt, on)
    price.weekly_price = Decimal("800.00")
    assert "upper quartile" not in rules.price_question(application, pt, on)
