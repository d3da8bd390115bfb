"""Suspension, reinstatement and removal rules: what each does to the
provider's memberships and settings, what is refused, and what is audited."""
from datetime import date, timedelta

import pytest
import time_machine

from app.domain import removals, suspensions
from app.domain.states import (IllegalTransition, MembershipStatus as MS, RemovalStatus, Role,
                               SuspensionReason)
from app.extensions import db
from app.models import AuditEvent, Membership, Removal
from tests.factories import make_provider, make_setting
from tests.factories_evaluation import ctx_for, make_staff

TODAY = date(2025, 11, 3)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel("2025-11-03 10:00:00+00:00", tick=False):
        yield


@pytest.fixture
def provider(dps):
    provider = make_provider()
    for lot in dps.lots[:2]:
        db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                                  started_on=date(2025, 1, 6)))
    db.session.commit()
    return provider


@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR)


def statuses(provider) -> dict[int, MS]:
    rows = db.session.execute(db.select(Membership).where(Membership.provider_id == provider.id)
                              .order_by(Membership.lot_id)).scalars()
    return {m.lot.number: m.status for m in rows}


def suspend(evaluator, provider, **kwargs):
    kwargs.setdefault("reason", SuspensionReason.SAFEGUARDING)
    kwargs.setdefault("description", "Serious shortfalls found on an unannounced visit.")
    kwargs.setdefault("remedy", "Appoint a registered manager.")
    kwargs.setdefault("starts_on", TODAY)
    kwargs.setdefault("review_on", TODAY + timedelta(days=28))
    suspension = suspensions.suspend(ctx_for(evaluator), provider, **kwargs)
    db.session.commit()
    return suspension


def actions(subject_type=None) -> list[str]:
    q = db.select(AuditEvent.action).order_by(AuditEvent.id)
    if subject_type:
        q = q.where(AuditEvent.subject_type == subject_type)
    return db.session.execute(q).scalars().all()


# ------------------------------------------------------------ suspension

def test_suspending_one_lot_leaves_the_others_active(dps, provider, evaluator):
    s = suspend(evaluator, provider, lot=dps.lots[1])
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.SUSPENDED}
    event = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.action == "provider.suspended")).scalar_one()
    assert event.subject_id == s.id and event.actor_id == evaluator.id
    assert event.after["lot_id"] == dps.lots[1].id and event.after["remedy"] == \
        "Appoint a registered manager."


def test_suspending_every_lot_then_reinstating_restores_them(dps, provider, evaluator):
    s = suspend(evaluator, provider)
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.SUSPENDED}
    suspensions.reinstate(ctx_for(evaluator), s, "Registered manager in post; visit passed.")
    db.session.commit()
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    assert s.lifted_by_id == evaluator.id and s.lift_note.startswith("Registered manager")
    assert actions() == ["provider.suspended", "provider.reinstated"]


def test_a_setting_suspension_flags_only_that_setting(dps, provider, evaluator):
    home, other = make_setting(provider), make_setting(provider)
    suspend(evaluator, provider, setting=home)
    db.session.refresh(home), db.session.refresh(other)
    assert home.is_suspended and not other.is_suspended
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}


def test_overlapping_suspensions_lift_one_at_a_time(dps, provider, evaluator):
    whole = suspend(evaluator, provider)
    one_lot = suspend(evaluator, provider, lot=dps.lots[0])
    suspensions.reinstate(ctx_for(evaluator), whole, "Whole-organisation issue resolved.")
    db.session.commit()
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.ACTIVE}
    suspensions.reinstate(ctx_for(evaluator), one_lot, "Lot 1 issue resolved.")
    db.session.commit()
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}


@pytest.mark.parametrize("note", ["", "   "])
def test_reinstating_needs_a_note(dps, provider, evaluator, note):
    s = suspend(evaluator, provider)
    with pytest.raises(suspensions.SuspensionError, match="note"):
        suspensions.reinstate(ctx_for(evaluator), s, note)


def test_a_lifted_suspension_cannot_be_lifted_again(dps, provider, evaluator):
    s = suspend(evaluator, provider)
    suspensions.reinstate(ctx_for(evaluator), s, "Resolved.")
    with pytest.raises(suspensions.SuspensionError, match="already been lifted"):
        suspensions.reinstate(ctx_for(evaluator), s, "Again.")


def test_refusals(dps, provider, evaluator):
    other = make_setting(make_provider())
    with pytest.raises(suspensions.SuspensionError, match="another provider"):
        suspend(evaluator, provider, setting=other)
    with pytest.raises(suspensions.SuspensionError, match="either a lot or a setting"):
        suspend(evaluator, provider, lot=dps.lots[0], setting=make_setting(provider))
    with pytest.raises(suspensions.SuspensionError, match="after the start date"):
        suspend(evaluator, provider, review_on=TODAY)
    with pytest.raises(suspensions.SuspensionError, match="description"):
        suspend(evaluator, provider, description="  ")


def test_removed_memberships_stay_removed_whatever_the_suspensions(dps, provider, evaluator):
    db.session.execute(db.update(Membership).where(Membership.lot_id == dps.lots[0].id)
                       .values(status=MS.REMOVED))
    s = suspend(evaluator, provider)
    suspensions.reinstate(ctx_for(evaluator), s, "Resolved.")
    db.session.commit()
    assert statuses(provider) == {1: MS.REMOVED, 2: MS.ACTIVE}


def test_a_future_suspension_takes_effect_on_its_start_date(dps, provider, evaluator):
    start = TODAY + timedelta(days=7)
    suspend(evaluator, provider, lot=dps.lots[0], starts_on=start,
            review_on=start + timedelta(days=30))
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    assert suspensions.start_due(ctx_for(evaluator), TODAY + timedelta(days=6)) == []
    changes = suspensions.start_due(ctx_for(evaluator), start)
    db.session.commit()
    assert [(c.kind, c.suspended) for c in changes] == [("membership", True)]
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.ACTIVE}
    # The daily job is safe to run twice.
    assert suspensions.start_due(ctx_for(evaluator), start) == []
    assert actions().count("provider.suspension_started") == 1


# ------------------------------------------------------------ removal (four eyes)

@pytest.fixture
def managers(dps):
    return make_staff(Role.MANAGER), make_staff(Role.MANAGER)


def request(provider, user, lot=None, ground="Repeated serious safeguarding failures."):
    removal = removals.request_removal(ctx_for(user), provider, ground=ground,
                                       requested_by=user, lot=lot)
    db.session.commit()
    return removal


def test_a_second_manager_confirms_a_removal(dps, provider, managers):
    first, second = managers
    removal = request(provider, first, lot=dps.lots[1])
    assert removal.status is RemovalStatus.PENDING
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}  # nothing happens yet
    removals.confirm(ctx_for(second), removal, second)
    db.session.commit()
    assert removal.status is RemovalStatus.CONFIRMED and removal.decided_by_id == second.id
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.REMOVED}
    confirmed = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.action == "removal.confirmed")).scalar_one()
    assert confirmed.reason == "Repeated serious safeguarding failures."
    assert actions() == ["removal.requested", "membership.removed", "removal.confirmed"]


def test_the_requester_cannot_confirm_or_cancel(dps, provider, managers):
    first, _ = managers
    removal = request(provider, first)
    with pytest.raises(removals.FourEyesViolation):
        removals.confirm(ctx_for(first), removal, first)
    with pytest.raises(removals.FourEyesViolation):
        removals.cancel(ctx_for(first), removal, first, note="Changed my mind.")
    assert removal.status is RemovalStatus.PENDING


def test_an_evaluator_can_request_but_not_confirm(dps, provider, managers, evaluator):
    removal = request(provider, evaluator)
    other_evaluator = make_staff(Role.EVALUATOR)
    with pytest.raises(removals.NotAManager):
        removals.confirm(ctx_for(other_evaluator), removal, other_evaluator)
    removals.confirm(ctx_for(managers[0]), removal, managers[0])
    db.session.commit()
    assert statuses(provider) == {1: MS.REMOVED, 2: MS.REMOVED}


def test_member_officers_cannot_request(dps, provider):
    officer = make_staff(Role.MEMBER_OFFICER)
    with pytest.raises(removals.RemovalError, match="evaluator or commissioning manager"):
        request(provider, officer)


def test_cancelling_needs_a_note_and_leaves_the_memberships(dps, provider, managers):
    first, second = managers
    removal = request(provider, first)
    with pytest.raises(removals.RemovalError, match="note"):
        removals.cancel(ctx_for(second), removal, second, note=" ")
    removals.cancel(ctx_for(second), removal, second, note="A suspension is enough for now.")
    db.session.commit()
    assert removal.status is RemovalStatus.CANCELLED
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    with pytest.raises(IllegalTransition):
        removals.confirm(ctx_for(second), removal, second)


def test_one_pending_removal_at_a_time_and_a_ground_is_required(dps, provider, managers):
    first, _ = managers
    with pytest.raises(removals.RemovalError, match="ground"):
        request(provider, first, ground="")
    request(provider, first, lot=dps.lots[0])
    with pytest.raises(removals.RemovalError, match="already waiting"):
        request(provider, first)
    with pytest.raises(removals.RemovalError, match="already waiting"):
        request(provider, first, lot=dps.lots[0])
    request(provider, first, lot=dps.lots[1])  # a different lot is a different question
    assert db.session.query(Removal).count() == 2


def test_a_removed_provider_stays_removed_after_a_suspension_is_lifted(dps, provider, managers,
                                                                      evaluator):
    s = suspend(evaluator, provider)
    removal = request(provider, managers[0], lot=dps.lots[0])
    removals.confirm(ctx_for(managers[1]), removal, managers[1])
    suspensions.reinstate(ctx_for(evaluator), s, "Resolved on the other lot.")
    db.session.commit()
    assert statuses(provider) == {1: MS.REMOVED, 2: MS.ACTIVE}
    with pytest.raises(removals.RemovalError, match="holds no place"):
        request(provider, managers[0], lot=dps.lots[0])
