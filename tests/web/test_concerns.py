"""Concerns through the pages: every member of staff lists, reads and raises
them; only commissioners move them on or share a safeguarding alert; stale
pages and illegal moves are refused; the list filters with and without htmx."""
import html as htmllib
from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain import concerns as rules
from app.domain.applications import today
from app.domain.states import ConcernCategory as C, ConcernStatus, Role, Severity
from app.extensions import db
from app.models import AccessAgreement, AuditEvent, Authority, Concern, Membership
from tests.factories import login, make_provider, make_setting, make_user, outbox
from tests.factories_evaluation import ctx_for, make_staff

HX = {"HX-Request": "true"}


@pytest.fixture
def provider(dps):
    provider = make_provider(trading_name="Riverside Homes")
    db.session.add(Membership(provider_id=provider.id, lot_id=dps.lots[0].id,
                              started_on=today() - timedelta(days=200)))
    db.session.commit()
    return provider


@pytest.fixture
def authority(dps):
    authority = Authority(name="London Borough of Redbridge", is_lead=False)
    db.session.add(authority)
    db.session.flush()
    db.session.add(AccessAgreement(authority_id=authority.id, lot_id=dps.lots[0].id,
                                   annual_fee=Decimal("3150"),
                                   starts_on=today() - timedelta(days=30),
                                   ends_on=today() + timedelta(days=300)))
    db.session.commit()
    return authority


@pytest.fixture
def officer(authority):
    return make_staff(Role.MEMBER_OFFICER, full_name="Nadia Officer", authority_id=authority.id)


@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR, full_name="Tom Okafor")


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray", email="helen@newham.example")


def raise_one(user, provider, **kwargs):
    kwargs.setdefault("category", C.QUALITY_OF_CARE)
    kwargs.setdefault("severity", Severity.MEDIUM)
    kwargs.setdefault("description", "Education provision not in place for six weeks.")
    concern = rules.raise_concern(ctx_for(user), provider, raised_by_id=user.id, **kwargs)
    db.session.commit()
    return concern


def text(r) -> str:
    return htmllib.unescape(r.data.decode())


def reload(concern) -> Concern:
    db.session.expire_all()
    return db.session.get(Concern, concern.id)


# ------------------------------------------------------------ access

@pytest.mark.parametrize("role,status", [
    (Role.EVALUATOR, 200), (Role.MANAGER, 200), (Role.ADMIN, 200), (Role.MEMBER_OFFICER, 200),
    (Role.PROVIDER_ADMIN, 403), (Role.PROVIDER_USER, 403)])
def test_every_member_of_staff_reads_concerns(client, provider, evaluator, role, status):
    concern = raise_one(evaluator, provider)
    login(client, make_user(role=role))
    assert client.get("/concerns/").status_code == status
    assert client.get(f"/concerns/{concern.id}").status_code == status
    assert client.get("/concerns/new").status_code == status


def test_member_officers_read_but_cannot_move_a_concern_on(client, provider, officer, evaluator):
    concern = raise_one(evaluator, provider, category=C.SAFEGUARDING)
    login(client, officer)
    html = text(client.get(f"/concerns/{concern.id}"))
    assert "Education provision not in place" in html
    assert "Start investigating" not in html and "Suspend this provider" not in html
    assert "Share this alert" not in html
    for url, data in ((f"/concerns/{concern.id}/status",
                       {"action": "investigate", "version": concern.version}),
                      (f"/concerns/{concern.id}/sharing",
                       {"shared": "yes", "version": concern.version})):
        assert client.post(url, data=data).status_code == 403
    concern = reload(concern)
    assert concern.status is ConcernStatus.OPEN and not concern.shared_with_provider
    assert client.get(f"/staff/providers/{provider.id}/suspend?concern_id={concern.id}"
                      ).status_code == 403


# ------------------------------------------------------------ raising

def test_a_member_officer_raises_a_safeguarding_alert(client, provider, officer, manager, dps):
    home = make_setting(provider, name="Oak House")
    elsewhere = make_provider(trading_name="Hilltop Care")  # on a lot Redbridge does not use
    db.session.add(Membership(provider_id=elsewhere.id, lot_id=dps.lots[2].id,
                              started_on=today()))
    db.session.commit()
    login(client, officer)
    html = text(client.get("/concerns/new"))
    assert "Riverside Homes" in html and "Hilltop Care" not in html
    r = client.get("/concerns/new?provider_id=")
    assert r.status_code == 400 and "Select the provider" in text(r)
    assert client.get(f"/concerns/new?provider_id={elsewhere.id}").status_code == 404

    url = f"/concerns/new?provider_id={provider.id}&setting_id={home.id}"
    html = text(client.get(url))
    assert f'<option value="{home.id}" selected>' in html
    r = client.post(url, data={"setting_id": str(home.id), "category": "safeguarding",
                               "severity": "low",
                               "description": "A child disclosed harm by a staff member."})
    assert r.status_code == 303
    concern = db.session.execute(db.select(Concern)).scalar_one()
    assert r.headers["Location"].endswith(f"/concerns/{concern.id}")
    assert concern.raised_by_id == officer.id and concern.authority_id == officer.authority_id
    assert concern.setting_id == home.id and concern.category is C.SAFEGUARDING
    [event] = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.action == "concern.raised")).scalars().all()
    assert event.actor_id == officer.id
    [email] = outbox(manager.email)
    assert email.subject == "Safeguarding alert: Riverside Homes"
    assert "Nadia Officer (London Borough of Redbridge)" in email.body
    assert f"/concerns/{concern.id}" in email.body
    html = text(client.get(r.headers["Location"]))
    assert "Commissioning managers have been emailed" in html
    assert "Nadia Officer, London Borough of Redbridge" in html


def test_low_concerns_do_not_email_managers(client, provider, officer, manager):
    login(client, officer)
    client.post(f"/concerns/new?provider_id={provider.id}",
                data={"setting_id": "", "category": "complaint", "severity": "medium",
                      "description": "Reports to the social worker are late."})
    assert db.session.query(Concern).count() == 1 and not outbox(manager.email)


def test_raising_checks_what_was_entered(client, provider, evaluator):
    login(client, evaluator)
    r = client.post(f"/concerns/new?provider_id={provider.id}",
                    data={"setting_id": "", "description": "   "})
    html = text(r)
    assert r.status_code == 400
    for message in ("Select the category of concern", "Select how serious the concern is",
                    "Enter a description of the concern"):
        assert message in html
    assert db.session.query(Concern).count() == 0


# ------------------------------------------------------------ lifecycle

def post_status(client, concern, action, version=None, **extra):
    return client.post(f"/concerns/{concern.id}/status",
                       data={"action": action, "version": version if version is not None
                             else reload(concern).version, **extra})


def test_commissioners_investigate_and_close_with_an_outcome(client, provider, officer,
                                                             evaluator):
    concern = raise_one(officer, provider)
    login(client, evaluator)
    r = post_status(client, concern, "investigate")
    assert r.status_code == 303 and reload(concern).status is ConcernStatus.INVESTIGATING
    r = post_status(client, concern, "close", outcome="  ")
    assert r.status_code == 400 and "Enter the outcome of the concern" in text(r)
    assert reload(concern).status is ConcernStatus.INVESTIGATING
    r = post_status(client, concern, "close",
                    outcome="Tutor in place from Monday; checked with the virtual school.")
    assert r.status_code == 303
    concern = reload(concern)
    assert concern.status is ConcernStatus.CLOSED and concern.outcome.startswith("Tutor in place")
    html = text(client.get(f"/concerns/{concern.id}"))
    assert "Investigation started" in html and "Concern closed" in html
    assert "Tutor in place from Monday" in html
    actions = db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.subject_type == "concern").order_by(AuditEvent.id)).scalars().all()
    assert actions == ["concern.raised", "concern.investigating", "concern.closed"]
    # Closed is final.
    r = post_status(client, concern, "investigate")
    assert r.status_code == 409 and "You cannot investigate a concern that is closed" in text(r)
    assert reload(concern).status is ConcernStatus.CLOSED


def test_a_stale_page_is_refused(client, provider, officer, evaluator, manager):
    concern = raise_one(officer, provider)
    stale = concern.version
    login(client, manager)
    post_status(client, concern, "investigate")
    login(client, evaluator)
    r = post_status(client, concern, "close", version=stale, outcome="Resolved.")
    assert r.status_code == 409 and "has changed since you opened this page" in text(r)
    assert reload(concern).status is ConcernStatus.INVESTIGATING
    r = client.post(f"/concerns/{concern.id}/sharing", data={"shared": "yes", "version": stale})
    assert r.status_code in (400, 409)


def test_actions_swap_the_record_with_htmx(client, provider, officer, evaluator):
    concern = raise_one(officer, provider)
    login(client, evaluator)
    headers = {**HX, "HX-Target": "concern-record"}
    r = client.post(f"/concerns/{concern.id}/status",
                    data={"action": "investigate", "version": concern.version}, headers=headers)
    html = text(r)
    assert r.status_code == 200
    assert html.lstrip().startswith('<div id="concern-record">') and "<html" not in html
    assert "The concern is being investigated." in html
    r = client.post(f"/concerns/{concern.id}/status",
                    data={"action": "close", "version": reload(concern).version, "outcome": ""},
                    headers=headers)
    assert r.status_code == 400 and "Enter the outcome" in text(r) and "<html" not in text(r)


def test_sharing_a_safeguarding_alert_is_a_commissioner_decision(client, provider, officer,
                                                                 manager):
    alert = raise_one(officer, provider, category=C.SAFEGUARDING)
    complaint = raise_one(officer, provider, category=C.COMPLAINT)
    login(client, manager)
    html = text(client.get(f"/concerns/{alert.id}"))
    assert "No: safeguarding alerts are hidden" in html and "Share this alert" in html
    r = client.post(f"/concerns/{alert.id}/sharing",
                    data={"shared": "yes", "version": alert.version})
    assert r.status_code == 303 and reload(alert).shared_with_provider
    [event] = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.action == "concern.shared")).scalars().all()
    assert event.actor_id == manager.id and event.subject_id == alert.id
    assert "Hide this alert" in text(client.get(f"/concerns/{alert.id}"))
    r = client.post(f"/concerns/{alert.id}/sharing",
                    data={"shared": "no", "version": reload(alert).version})
    assert r.status_code == 303 and not reload(alert).shared_with_provider
    assert "Share this alert" not in text(client.get(f"/concerns/{complaint.id}"))
    r = client.post(f"/concerns/{complaint.id}/sharing",
                    data={"shared": "yes", "version": complaint.version})
    assert r.status_code == 400


def test_the_detail_links_to_a_suspension_and_shows_the_ones_that_followed(
        client, provider, officer, evaluator):
    concern = raise_one(officer, provider, category=C.SAFEGUARDING)
    login(client, evaluator)
    html = text(client.get(f"/concerns/{concern.id}"))
    assert f"/staff/providers/{provider.id}/suspend?concern_id={concern.id}" in html
    client.post(f"/staff/providers/{provider.id}/suspend",
                data={"scope": "all", "reason": "safeguarding", "description": "Allegation.",
                      "remedy": "Complete the LADO process.", "concern_id": str(concern.id),
                      "starts_on": [str(today().day), str(today().month), str(today().year)],
                      "review_on": [str(x) for x in ((today() + timedelta(days=14)).day,
                                                     (today() + timedelta(days=14)).month,
                                                     (today() + timedelta(days=14)).year)]})
    html = text(client.get(f"/concerns/{concern.id}"))
    assert "Suspensions that followed" in html and "Provider suspended" in html


# ------------------------------------------------------------ the list

def test_the_list_filters_with_and_without_htmx(client, provider, officer, evaluator):
    other = make_provider(trading_name="Hilltop Care")
    raise_one(officer, provider, category=C.SAFEGUARDING, severity=Severity.HIGH,
              description="Alert at Riverside")
    closed = raise_one(officer, provider, category=C.COMPLAINT, severity=Severity.LOW,
                       description="Closed complaint at Riverside")
    rules.change_status(ctx_for(evaluator), closed, "close", version=closed.version,
                        outcome="Resolved")
    db.session.commit()
    raise_one(evaluator, other, category=C.COMPLAINT, severity=Severity.MEDIUM,
              description="Complaint at Hilltop")
    login(client, officer)
    html = text(client.get("/concerns/"))
    assert "Showing 1 to 3 of 3 concerns" in html
    html = text(client.get("/concerns/?category=complaint"))
    assert "Riverside Homes</td>" in html and "Hilltop Care</td>" in html
    assert "of 2 concerns matching" in html
    html = text(client.get("/concerns/?status=open&category=complaint"))
    assert "Showing 1 to 1 of 1 concern matching" in html
    assert "Hilltop Care</td>" in html and "Riverside Homes</td>" not in html
    html = text(client.get(f"/concerns/?provider={provider.id}&severity=high"))
    assert "Showing 1 to 1 of 1 concern matching" in html
    assert "Riverside Homes</td>" in html and "Hilltop Care</td>" not in html
    r = client.get("/concerns/?severity=extreme", headers={**HX, "HX-Target": "concern-results"})
    html = text(r)
    assert r.status_code == 400 and html.lstrip().startswith('<div id="concern-results">')
    assert "Select a severity from the list" in html and "<html" not in html
    html = text(client.get("/concerns/?status=closed",
                           headers={**HX, "HX-Target": "concern-results"}))
    assert "of 1 concern" in html and "<html" not in html


def test_the_list_is_paginated(client, provider, evaluator):
    for n in range(23):
        rules.raise_concern(ctx_for(evaluator), provider, category=C.COMPLAINT,
                            severity=Severity.LOW, description=f"Complaint number {n}")
    db.session.commit()
    login(client, evaluator)
    html = text(client.get("/concerns/?category=complaint"))
    assert "Showing 1 to 20 of 23 concerns" in html
    assert "category=complaint&amp;page=2" in client.get("/concerns/?category=complaint"
                                                          ).data.decode()
    html = text(client.get("/concerns/?category=complaint&page=2"))
    assert "Showing 21 to 23 of 23 concerns" in html


def _queries(client, url) -> int:
    import sqlalchemy as sa
    count = 0

    def before(*args):
        nonlocal count
        count += 1
    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)
    return count


def test_the_list_and_the_detail_need_the_same_queries_for_many_rows(client, dps, officer,
                                                                    evaluator):
    def add(n):
        for i in range(n):
            p = make_provider()
            rules.raise_concern(ctx_for(officer if i % 2 else evaluator), p,
                                setting=make_setting(p), category=C.COMPLAINT,
                                severity=Severity.LOW, description=f"Complaint {i}",
                                authority_id=officer.authority_id)
        db.session.commit()
    login(client, evaluator)
    add(2)
    few = _queries(client, "/concerns/")
    add(8)
    assert _queries(client, "/concerns/") == few
