"""The evaluation queue's rules: days waiting (time waiting on the provider
excluded, counted the same in SQL and Python), filters, sorting, pagination,
and taking or assigning an application."""
from datetime import timedelta

import pytest

from app.domain import queue
from app.domain.audit import history
from app.domain.states import ApplicationStatus, Role, next_application_status
from app.extensions import db
from app.models import utcnow
from tests.factories import make_provider, make_user
from tests.factories_evaluation import (ctx_for, in_evaluation, make_staff,
                                        submitted_application)

DAY = timedelta(days=1)


def _move(application, *actions):
    """Test set-up: walk the application through the state table."""
    for action in actions:
        application.status = next_application_status(application.status, action)
    db.session.commit()


def _refs(page):
    return [row.application.reference for row in page.rows]


def test_days_waiting_leaves_out_time_waiting_on_the_provider(dps, app_ctx):
    now = utcnow()
    plain = submitted_application(dps)
    plain.submitted_at = now - 10 * DAY - timedelta(hours=1)
    answered = submitted_application(dps)  # waited 3 days for an answer, now back
    answered.submitted_at = now - 10 * DAY
    answered.waiting_seconds = int((3 * DAY).total_seconds())
    waiting = submitted_application(dps)  # waiting on the provider for 2 days so far
    waiting.submitted_at = now - 10 * DAY
    waiting.waiting_seconds = int(DAY.total_seconds())
    waiting.waiting_since = now - 2 * DAY
    decided = submitted_application(dps)
    decided.submitted_at = now - 30 * DAY
    db.session.commit()
    _move(decided, "start_evaluation", "recommend", "decide")

    expected = {plain.id: 10, answered.id: 7, waiting.id: 7, decided.id: None}
    assert {a.id: queue.days_waiting(a, now) for a in (plain, answered, waiting, decided)} \
        == expected
    # The queue computes the same in SQL.
    page = queue.queue_page(queue.QueueFilters(), now)
    assert {row.application.id: row.days_waiting for row in page.rows} == expected


def test_filters(dps, app_ctx):
    tom, grace = make_staff(Role.EVALUATOR), make_staff(Role.EVALUATOR)
    lot1 = submitted_application(dps, lots=(1,), submitted_days_ago=2)
    lot2 = submitted_application(dps, lots=(2,), submitted_days_ago=9)
    both = in_evaluation(dps, tom, lots=(1, 2), submitted_days_ago=20)
    graces = in_evaluation(dps, grace, lots=(3,), submitted_days_ago=1)
    lot_ids = {lot.number: lot.id for lot in dps.lots}
    now = utcnow()

    def found(**kwargs):
        return set(_refs(queue.queue_page(queue.QueueFilters(**kwargs), now)))

    assert found() == {a.reference for a in (lot1, lot2, both, graces)}
    assert found(lot_id=lot_ids[1]) == {lot1.reference, both.reference}
    assert found(lot_id=lot_ids[2]) == {lot2.reference, both.reference}
    assert found(status=ApplicationStatus.IN_EVALUATION) == {both.reference, graces.reference}
    assert found(evaluator_id=tom.id) == {both.reference}
    assert found(unassigned=True) == {lot1.reference, lot2.reference}
    # "Longer than N days" compares with the whole days shown.
    assert found(waiting_over_days=8) == {lot2.reference, both.reference}
    assert found(waiting_over_days=9) == {both.reference}
    assert found(lot_id=lot_ids[1], waiting_over_days=5, evaluator_id=tom.id) == {both.reference}


def test_drafts_are_never_in_the_queue(dps, app_ctx):
    from app.domain import applications as rules
    application = submitted_application(dps)
    provider = make_provider()
    user = make_user(provider=provider)
    rules.start_application(ctx_for(user), provider, user, [dps.lots[3]], rules.today())
    db.session.commit()
    page = queue.queue_page(queue.QueueFilters(), utcnow())
    assert _refs(page) == [application.reference] and page.total == 1
    counts = queue.counts_by_status()
    assert ApplicationStatus.DRAFT not in counts
    assert counts[ApplicationStatus.SUBMITTED] == 1 and sum(counts.values()) == 1


def test_sorting(dps, app_ctx):
    a = submitted_application(dps, name="avon Fostering", submitted_days_ago=3)
    b = submitted_application(dps, name="", submitted_days_ago=5)  # legal name used
    b.provider.legal_name = "Bramble Care Ltd"
    c = submitted_application(dps, name="Cedar Foster Care", submitted_days_ago=1)
    c.waiting_seconds = int((0.5 * DAY).total_seconds())
    gone = submitted_application(dps, name="Dale Homes", submitted_days_ago=30)
    db.session.commit()
    _move(gone, "withdraw")
    now = utcnow()

    def order(sort, descending):
        return _refs(queue.queue_page(queue.QueueFilters(sort=sort, descending=descending), now))

    assert order("submitted", True) == [c.reference, a.reference, b.reference, gone.reference]
    assert order("submitted", False) == [gone.reference, b.reference, a.reference, c.reference]
    assert order("provider", False) == [a.reference, b.reference, c.reference, gone.reference]
    assert order("provider", True) == [gone.reference, c.reference, b.reference, a.reference]
    # Not waiting any more: last whichever the direction.
    assert order("waiting", True) == [b.reference, a.reference, c.reference, gone.reference]
    assert order("waiting", False) == [c.reference, a.reference, b.reference, gone.reference]


def test_pagination(dps, app_ctx):
    apps = [submitted_application(dps, submitted_days_ago=n) for n in range(5)]
    now = utcnow()
    first = queue.queue_page(queue.QueueFilters(page=1), now, per_page=2)
    assert (first.total, first.pages, first.page, first.first, first.last) == (5, 3, 1, 1, 2)
    assert _refs(first) == [apps[0].reference, apps[1].reference]
    last = queue.queue_page(queue.QueueFilters(page=3), now, per_page=2)
    assert _refs(last) == [apps[4].reference] and (last.first, last.last) == (5, 5)
    # Past the end (or before the start): the nearest real page.
    assert queue.queue_page(queue.QueueFilters(page=40), now, per_page=2).page == 3
    assert queue.queue_page(queue.QueueFilters(page=-1), now, per_page=2).page == 1
    empty = queue.queue_page(queue.QueueFilters(status=ApplicationStatus.DECIDED), now)
    assert (empty.total, empty.pages, empty.first, empty.rows) == (0, 1, 0, [])


# ------------------------------------------------------------------ take and assign

def test_taking_a_submitted_application_starts_evaluation(dps, app_ctx):
    tom = make_staff(Role.EVALUATOR)
    application = submitted_application(dps, lots=(1, 2))
    assert queue.take(ctx_for(tom), application, tom) is True
    db.session.commit()
    assert application.status is ApplicationStatus.IN_EVALUATION
    assert application.assigned_evaluator_id == tom.id
    assert all(alot.evaluation is not None for alot in application.lots)
    assert history("application", application.id)[-1].action == "application.evaluation_started"
    # Taking it again changes nothing.
    events = len(history("application", application.id))
    assert queue.take(ctx_for(tom), application, tom) is False
    assert len(history("application", application.id)) == events


def test_an_application_held_by_a_colleague_cannot_be_taken(dps, app_ctx):
    tom, grace = make_staff(Role.EVALUATOR, full_name="Tom Okafor"), make_staff(Role.EVALUATOR)
    application = in_evaluation(dps, tom)
    with pytest.raises(queue.HeldByOther, match="Tom Okafor is already evaluating"):
        queue.take(ctx_for(grace), application, grace)
    assert application.assigned_evaluator_id == tom.id


def test_only_evaluators_and_managers_take_or_are_assigned(dps, app_ctx):
    application = submitted_application(dps)
    for role in (Role.ADMIN, Role.MEMBER_OFFICER):
        user = make_staff(role)
        with pytest.raises(queue.AssignmentError):
            queue.take(ctx_for(user), application, user)
        with pytest.raises(queue.AssignmentError):
            queue.assign(ctx_for(user), application, user)
    inactive = make_staff(Role.EVALUATOR, is_active_account=False)
    with pytest.raises(queue.AssignmentError):
        queue.assign(ctx_for(inactive), application, inactive)
    assert application.status is ApplicationStatus.SUBMITTED
    assert inactive not in queue.assignable_staff()


def test_a_manager_reassigns_with_the_evaluators_before_and_after(dps, app_ctx):
    tom, grace = make_staff(Role.EVALUATOR), make_staff(Role.EVALUATOR)
    manager = make_staff(Role.MANAGER)
    application = in_evaluation(dps, tom)
    queue.assign(ctx_for(manager), application, grace, reason="Tom is on leave")
    db.session.commit()
    assert application.assigned_evaluator_id == grace.id
    event = history("application", application.id)[-1]
    assert event.action == "application.evaluator_assigned" and event.internal
    assert (event.before, event.after) == ({"evaluator_id": tom.id}, {"evaluator_id": grace.id})
    assert event.actor_id == manager.id and event.reason == "Tom is on leave"
    with pytest.raises(queue.AssignmentError, match="already evaluating"):
        queue.assign(ctx_for(manager), application, grace)


def test_decided_or_withdrawn_applications_cannot_be_assigned(dps, app_ctx):
    tom, manager = make_staff(Role.EVALUATOR), make_staff(Role.MANAGER)
    application = submitted_application(dps)
    _move(application, "withdraw")
    with pytest.raises(queue.AssignmentError, match="withdrawn, so it cannot be assigned"):
        queue.assign(ctx_for(manager), application, tom)
    with pytest.raises(queue.AssignmentError):
        queue.take(ctx_for(tom), application, tom)
