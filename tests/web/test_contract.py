"""Contract management through the pages: the provider record, suspending
and reinstating, removal with four eyes (including direct POSTs that never
saw the page), and the provider's own view of its suspensions and concerns."""
import html as htmllib
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain.applications import today
from app.domain.states import (ConcernCategory, MembershipStatus as MS, PriceSource,
                               RemovalStatus, Role, Severity, SuspensionReason)
from app.domain import concerns as concern_rules
from app.domain import suspensions as suspension_rules
from app.extensions import db
from app.models import (AccessAgreement, AuditEvent, Authority, Concern, Membership, Price,
                        Removal, Setting, Suspension)
from tests.factories import login, make_provider, make_setting, make_user, outbox
from tests.factories_evaluation import ctx_for, make_staff

REMEDY = "Appoint a registered manager and complete safer-recruitment checks for all staff."


@pytest.fixture
def provider(dps):
    provider = make_provider(trading_name="Riverside Homes",
                             contact_email="office@riverside.example")
    for lot in dps.lots[:2]:
        db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                                  started_on=date(2025, 1, 6)))
    db.session.commit()
    return provider


@pytest.fixture
def provider_admin(provider):
    return make_user(Role.PROVIDER_ADMIN, provider, email="amira@riverside.example")


@pytest.fixture
def home(provider):
    return make_setting(provider, name="Oak House")


@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR, full_name="Tom Okafor")


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray")


@pytest.fixture
def second_manager(dps):
    return make_staff(Role.MANAGER, full_name="Priya Shah")


def member_officer(dps, lot_numbers=(1,)):
    """A member officer whose authority has a current agreement for `lot_numbers`."""
    authority = Authority(name=f"Borough {len(lot_numbers)}-{lot_numbers}", is_lead=False)
    db.session.add(authority)
    db.session.flush()
    for lot in dps.lots:
        if lot.number in lot_numbers:
            db.session.add(AccessAgreement(authority_id=authority.id, lot_id=lot.id,
                                           annual_fee=Decimal("3150"),
                                           starts_on=today() - timedelta(days=30),
                                           ends_on=today() + timedelta(days=300)))
    db.session.commit()
    return make_staff(Role.MEMBER_OFFICER, authority_id=authority.id)


def statuses(provider) -> dict[int, MS]:
    rows = db.session.execute(db.select(Membership).where(Membership.provider_id == provider.id)
                              ).scalars()
    return {m.lot.number: db.session.merge(m).status for m in rows}


def day(d: date) -> list[str]:
    return [str(d.day), str(d.month), str(d.year)]


def suspend_data(scope="all", **overrides):
    data = {"scope": scope, "reason": "safeguarding",
            "description": "An unannounced visit found serious safeguarding shortfalls.",
            "remedy": REMEDY, "starts_on": day(today()),
            "review_on": day(today() + timedelta(days=28))}
    data.update(overrides)
    return data


def events(action) -> list[AuditEvent]:
    return db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).scalars().all()


# ------------------------------------------------------------ access

@pytest.mark.parametrize("role,page,actions", [
    (Role.EVALUATOR, 200, True), (Role.MANAGER, 200, True), (Role.ADMIN, 200, False),
    (Role.PROVIDER_ADMIN, 403, False)])
def test_who_sees_the_provider_page_and_its_actions(client, provider, role, page, actions):
    login(client, make_user(role=role))
    r = client.get(f"/staff/providers/{provider.id}")
    assert r.status_code == page
    if page == 200:
        html = r.data.decode()
        assert "Riverside Homes" in html
        assert (f"/staff/providers/{provider.id}/suspend" in html) is actions
        assert (f"/staff/providers/{provider.id}/remove" in html) is actions


def test_a_member_officer_reads_only_their_lots_without_actions(client, dps, provider):
    for lot, amount in ((dps.lots[0], "925.00"), (dps.lots[1], "3817.00")):
        db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                             placement_type_id=lot.placement_types[0].id, amount=Decimal(amount),
                             valid_from=today() - timedelta(days=100),
                             source=PriceSource.APPLICATION))
    db.session.commit()
    login(client, member_officer(dps, (1,)))
    html = htmllib.unescape(client.get(f"/staff/providers/{provider.id}").data.decode())
    assert dps.lots[0].title in html and dps.lots[1].title not in html
    assert "£925.00 a week" in html and dps.lots[0].placement_types[0].name in html
    assert "£3,817.00" not in html
    assert "/suspend" not in html and "/remove" not in html
    assert "Only the lead authority" in html
    assert client.get(f"/staff/providers/{provider.id}/suspend").status_code == 403
    assert client.post(f"/staff/providers/{provider.id}/suspend",
                       data=suspend_data()).status_code == 403
    assert client.post(f"/staff/providers/{provider.id}/remove",
                       data={"scope": "all", "ground": "x"}).status_code == 403
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}


def test_a_member_officer_cannot_open_a_provider_outside_their_lots(client, dps, provider):
    login(client, member_officer(dps, (3, 4)))
    assert client.get(f"/staff/providers/{provider.id}").status_code == 404


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.ADMIN, Role.MEMBER_OFFICER,
                                  Role.PROVIDER_ADMIN])
def test_only_managers_open_a_removal_decision(client, provider, manager, role):
    removal = Removal(provider_id=provider.id, ground="Ground", requested_by_id=manager.id)
    db.session.add(removal)
    db.session.commit()
    login(client, make_user(role=role))
    assert client.get(f"/staff/removals/{removal.id}").status_code == 403
    assert client.post(f"/staff/removals/{removal.id}",
                       data={"decision": "confirm"}).status_code == 403
    assert db.session.get(Removal, removal.id).status is RemovalStatus.PENDING


def test_providers_cannot_reach_staff_actions_and_staff_cannot_reach_provider_pages(
        client, provider, provider_admin, evaluator):
    login(client, provider_admin)
    for url in (f"/staff/providers/{provider.id}/suspend",
                f"/staff/providers/{provider.id}/remove"):
        assert client.get(url).status_code == 403
    login(client, evaluator)
    assert client.get("/suspensions").status_code == 403


# ------------------------------------------------------------ suspend

def test_the_suspend_form_offers_the_providers_lots_and_settings(client, provider, home,
                                                                 evaluator, dps):
    login(client, evaluator)
    html = htmllib.unescape(client.get(f"/staff/providers/{provider.id}/suspend").data.decode())
    assert dps.lots[0].title in html and dps.lots[1].title in html
    assert dps.lots[2].title not in html
    assert "Every lot" in html and f"One setting: Oak House ({home.ofsted_urn})" in html
    t = today()
    assert f'value="{t.year}"' in html  # the start date defaults to today


def test_suspending_one_lot(client, provider, provider_admin, evaluator, dps):
    login(client, evaluator)
    lot = dps.lots[1]
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data=suspend_data(scope=f"lot-{lot.id}"))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/staff/providers/{provider.id}")
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.SUSPENDED}
    suspension = db.session.execute(db.select(Suspension)).scalar_one()
    assert suspension.lot_id == lot.id and suspension.reason is SuspensionReason.SAFEGUARDING
    assert suspension.remedy == REMEDY and suspension.created_by_id == evaluator.id
    [event] = events("provider.suspended")
    assert event.actor_id == evaluator.id and event.subject_id == suspension.id
    # The provider's administrators and its contact address are told what to put right.
    for to in ("amira@riverside.example", "office@riverside.example"):
        [email] = outbox(to)
        assert "Riverside Homes is suspended from " + lot.title in email.subject
        assert REMEDY in email.body and "/suspensions" in email.body
    html = client.get(r.headers["Location"]).data.decode()
    assert "is suspended from" in html  # flash
    assert "What the provider must put right" in html and REMEDY in html
    assert "Suspended" in html


def test_suspending_every_lot_and_reinstating_with_a_note(client, provider, provider_admin,
                                                          evaluator):
    login(client, evaluator)
    client.post(f"/staff/providers/{provider.id}/suspend", data=suspend_data())
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.SUSPENDED}
    suspension = db.session.execute(db.select(Suspension)).scalar_one()
    url = f"/staff/suspensions/{suspension.id}/reinstate"
    assert "Reinstate the provider" in client.get(url).data.decode()
    r = client.post(url, data={"note": "  "})
    assert r.status_code == 400
    assert "Enter a note saying why the provider can be reinstated" in r.data.decode()
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.SUSPENDED}
    r = client.post(url, data={"note": "New registered manager in post; follow-up visit passed."})
    assert r.status_code == 303
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    assert [e.actor_id for e in events("provider.reinstated")] == [evaluator.id]
    [email] = outbox("amira@riverside.example")[-1:]
    assert "reinstated" in email.subject and "follow-up visit passed" in email.body
    # Reinstating twice is refused and changes nothing.
    r = client.post(url, data={"note": "Again"})
    assert r.status_code == 409 and len(events("provider.reinstated")) == 1


def test_suspending_one_setting(client, provider, home, evaluator):
    other = make_setting(provider, name="Elm Lodge")
    login(client, evaluator)
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data=suspend_data(scope=f"setting-{home.id}", reason="performance"))
    assert r.status_code == 303
    assert db.session.get(Setting, home.id).is_suspended
    assert not db.session.get(Setting, other.id).is_suspended
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    html = client.get(f"/staff/providers/{provider.id}").data.decode()
    assert "Setting: Oak House" in html


def test_the_suspend_form_checks_what_was_entered(client, provider, evaluator):
    login(client, evaluator)
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data={"description": "Kept text", "starts_on": ["", "", ""],
                          "review_on": ["", "", ""]})
    html = r.data.decode()
    assert r.status_code == 400
    for message in ("Select what to suspend the provider from",
                    "Select the reason for the suspension",
                    "Enter what the provider must put right", "Enter the start date",
                    "Enter the review date"):
        assert message in html, message
    assert "Kept text" in html
    r = client.post(f"/staff/providers/{provider.id}/suspend", data=suspend_data(
        starts_on=day(today() - timedelta(days=1)), review_on=day(today() - timedelta(days=1))))
    assert "The start date must be today or in the future" in r.data.decode()
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data=suspend_data(review_on=day(today())))
    assert "The review date must be after the start date" in r.data.decode()
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data=suspend_data(starts_on=["31", "2", "2030"]))
    assert "Start date must be a real date" in r.data.decode()
    # A date input missing from the POST entirely must not break the page.
    data = suspend_data()
    del data["starts_on"]
    assert client.post(f"/staff/providers/{provider.id}/suspend", data=data).status_code == 400
    assert db.session.query(Suspension).count() == 0 and not events("provider.suspended")


def test_a_future_start_is_recorded_but_takes_effect_on_the_day(client, provider, provider_admin,
                                                               evaluator):
    login(client, evaluator)
    start = today() + timedelta(days=7)
    client.post(f"/staff/providers/{provider.id}/suspend",
                data=suspend_data(starts_on=day(start), review_on=day(start + timedelta(days=7))))
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    [email] = outbox("amira@riverside.example")
    assert "will be suspended" in email.body
    suspension_rules.start_due(ctx_for(evaluator), start)
    db.session.commit()
    assert statuses(provider) == {1: MS.SUSPENDED, 2: MS.SUSPENDED}


def test_suspending_from_a_concern_links_them(client, provider, evaluator):
    concern = concern_rules.raise_concern(ctx_for(evaluator), provider,
                                          category=ConcernCategory.SAFEGUARDING,
                                          severity=Severity.CRITICAL,
                                          description="Allegation against a staff member.")
    db.session.commit()
    login(client, evaluator)
    url = f"/staff/providers/{provider.id}/suspend?concern_id={concern.id}"
    html = client.get(url).data.decode()
    assert "This suspension follows" in html and 'value="safeguarding" checked' in html
    r = client.post(f"/staff/providers/{provider.id}/suspend",
                    data=suspend_data(concern_id=str(concern.id)))
    assert r.status_code == 303
    assert db.session.execute(db.select(Suspension.concern_id)).scalar_one() == concern.id
    other = concern_rules.raise_concern(ctx_for(evaluator), make_provider(),
                                        category=ConcernCategory.COMPLAINT,
                                        severity=Severity.LOW, description="Other provider")
    db.session.commit()
    assert client.get(f"/staff/providers/{provider.id}/suspend?concern_id={other.id}"
                      ).status_code == 404


def test_a_provider_without_a_place_has_nothing_to_suspend(client, evaluator, dps):
    applicant = make_provider()
    login(client, evaluator)
    assert "holds no place on any lot" in client.get(
        f"/staff/providers/{applicant.id}/suspend").data.decode()
    assert client.post(f"/staff/providers/{applicant.id}/suspend",
                       data=suspend_data()).status_code == 409
    assert client.get("/staff/providers/999999").status_code == 404


# ------------------------------------------------------------ removal (four eyes)

def request_removal(client, provider, scope="all", ground="Repeated serious safeguarding failures "
                                                          "after two suspensions."):
    return client.post(f"/staff/providers/{provider.id}/remove",
                       data={"scope": scope, "ground": ground})


def test_removal_needs_a_second_manager(client, provider, provider_admin, manager,
                                        second_manager, evaluator):
    login(client, manager)
    assert request_removal(client, provider, ground="").status_code == 400
    r = request_removal(client, provider)
    assert r.status_code == 303
    removal = db.session.execute(db.select(Removal)).scalar_one()
    assert removal.status is RemovalStatus.PENDING and removal.requested_by_id == manager.id
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    # The second manager is asked; the requester is not.
    assert len(outbox(second_manager.email)) == 1 and not outbox(manager.email)

    url = f"/staff/removals/{removal.id}"
    html = client.get(url).data.decode()
    assert "a different commissioning manager must confirm or cancel it" in html
    assert 'name="decision"' not in html
    # A direct POST by the requester is refused and changes nothing.
    r = client.post(url, data={"decision": "confirm"})
    assert r.status_code == 403
    assert db.session.get(Removal, removal.id).status is RemovalStatus.PENDING
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}

    login(client, evaluator)
    assert client.post(url, data={"decision": "confirm"}).status_code == 403

    login(client, second_manager)
    assert 'name="decision"' in client.get(url).data.decode()
    r = client.post(url, data={"decision": "confirm", "note": "Agreed with legal."})
    assert r.status_code == 303
    db.session.expire_all()
    removal = db.session.get(Removal, removal.id)
    assert removal.status is RemovalStatus.CONFIRMED and removal.decided_by_id == second_manager.id
    assert statuses(provider) == {1: MS.REMOVED, 2: MS.REMOVED}
    [confirmed] = events("removal.confirmed")
    assert confirmed.actor_id == second_manager.id
    assert confirmed.reason.startswith("Repeated serious safeguarding failures")
    assert len(events("membership.removed")) == 2
    [email] = outbox("amira@riverside.example")
    assert "removed" in email.subject and "Repeated serious safeguarding" in email.body
    # Deciding again is refused.
    assert client.post(url, data={"decision": "cancel", "note": "x"}).status_code == 409
    html = client.get(f"/staff/providers/{provider.id}").data.decode()
    assert "Removed" in html


def test_removing_from_one_lot_and_cancelling(client, provider, manager, second_manager, dps):
    login(client, manager)
    request_removal(client, provider, scope=f"lot-{dps.lots[0].id}")
    removal = db.session.execute(db.select(Removal)).scalar_one()
    login(client, second_manager)
    r = client.post(f"/staff/removals/{removal.id}", data={"decision": "cancel"})
    assert r.status_code == 400 and "Enter a note saying why the removal is cancelled" in \
        r.data.decode()
    r = client.post(f"/staff/removals/{removal.id}",
                    data={"decision": "cancel", "note": "A suspension is enough for now."})
    assert r.status_code == 303
    assert db.session.get(Removal, removal.id).status is RemovalStatus.CANCELLED
    assert statuses(provider) == {1: MS.ACTIVE, 2: MS.ACTIVE}
    assert [e.actor_id for e in events("removal.cancelled")] == [second_manager.id]
    [email] = outbox(manager.email)
    assert "cancelled" in email.subject and "A suspension is enough" in email.body

    login(client, manager)
    request_removal(client, provider, scope=f"lot-{dps.lots[0].id}")
    removal = db.session.execute(db.select(Removal).where(
        Removal.status == RemovalStatus.PENDING)).scalar_one()
    login(client, second_manager)
    client.post(f"/staff/removals/{removal.id}", data={"decision": "confirm"})
    assert statuses(provider) == {1: MS.REMOVED, 2: MS.ACTIVE}


def test_an_evaluator_may_request_a_removal(client, provider, evaluator, manager):
    login(client, evaluator)
    assert request_removal(client, provider).status_code == 303
    assert [e.actor_id for e in events("removal.requested")] == [evaluator.id]


# ------------------------------------------------------------ the provider's view

def _suspend_directly(provider, user, **kwargs):
    kwargs.setdefault("reason", SuspensionReason.NON_COMPLIANCE)
    kwargs.setdefault("description", "Public liability insurance has expired.")
    kwargs.setdefault("remedy", "Upload a current public liability certificate.")
    s = suspension_rules.suspend(ctx_for(user), provider, starts_on=today(),
                                 review_on=today() + timedelta(days=14), **kwargs)
    db.session.commit()
    return s


def test_the_provider_sees_its_own_suspensions_only(client, provider, provider_admin, evaluator):
    other = make_provider(trading_name="Hilltop Care")
    _suspend_directly(provider, evaluator)
    _suspend_directly(other, evaluator, description="Hilltop's staffing ratio was breached.",
                      remedy="Hilltop must recruit two staff.")
    login(client, provider_admin)
    html = client.get("/applications/").data.decode()
    assert "Your organisation has a suspension from the DPS" in html
    html = client.get("/suspensions").data.decode()
    assert "Public liability insurance has expired." in html
    assert "Upload a current public liability certificate." in html
    assert "Every lot" in html and "Non-compliance" in html
    assert "Hilltop" not in html


def test_no_banner_when_not_suspended(client, provider, provider_admin):
    login(client, provider_admin)
    assert "suspension from the DPS" not in client.get("/applications/").data.decode()
    assert "You are not suspended." in client.get("/suspensions").data.decode()


def test_safeguarding_alerts_reach_the_provider_only_when_shared(client, provider, provider_admin,
                                                                 evaluator, manager):
    officer = make_staff(Role.MEMBER_OFFICER, full_name="Nadia Officer")
    alert = concern_rules.raise_concern(
        ctx_for(officer), provider, category=ConcernCategory.SAFEGUARDING,
        severity=Severity.HIGH, description="Alert: a child disclosed harm at Oak House.")
    concern_rules.raise_concern(ctx_for(officer), provider, category=ConcernCategory.COMPLAINT,
                                severity=Severity.LOW, description="Complaint: late reports.")
    concern_rules.raise_concern(ctx_for(officer), make_provider(),
                                category=ConcernCategory.COMPLAINT, severity=Severity.LOW,
                                description="Complaint about another provider.")
    db.session.commit()
    login(client, provider_admin)
    html = client.get("/suspensions").data.decode()
    assert "Complaint: late reports." in html
    assert "Alert: a child disclosed harm" not in html
    assert "another provider" not in html
    assert "Nadia Officer" not in html  # never who raised it
    concern_rules.set_shared(ctx_for(manager), db.session.get(Concern, alert.id), True,
                             version=alert.version)
    db.session.commit()
    html = client.get("/suspensions").data.decode()
    assert "Alert: a child disclosed harm" in html and "Nadia Officer" not in html


def test_the_provider_page_needs_the_same_queries_for_more_history(client, provider, home,
                                                                   evaluator, manager, dps):
    import sqlalchemy as sa

    def queries() -> int:
        count = 0

        def before(*args):
            nonlocal count
            count += 1
        sa.event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(f"/staff/providers/{provider.id}").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before)
        return count

    def history(n):
        for _ in range(n):
            s = _suspend_directly(provider, evaluator, setting=home)
            suspension_rules.reinstate(ctx_for(manager), s, "Resolved.")
            _suspend_directly(provider, manager, lot=dps.lots[0])
            concern_rules.raise_concern(ctx_for(evaluator), provider, setting=home,
                                        category=ConcernCategory.COMPLAINT,
                                        severity=Severity.LOW, description="Late reports")
        db.session.commit()
    login(client, evaluator)
    history(1)
    few = queries()
    history(4)
    assert queries() == few
