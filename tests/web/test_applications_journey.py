"""A provider's application from the dashboard to submission, confirmation and
withdrawal; ownership on every route; no editing after submission."""
import re

import pytest
import sqlalchemy as sa

from app.demo import add_demo_evidence, fill_application
from app.domain import applications as rules
from app.domain.audit import AuditContext, history
from app.domain.states import ApplicationStatus, Role
from app.extensions import db
from app.models import Application, AuditEvent, CeilingPrice
from tests.factories import login, make_provider, make_setting, make_user, outbox


def ctx(user):
    return AuditContext(actor_id=user.id, actor_role=user.role.value)


def start(user, lots):
    application = rules.start_application(ctx(user), user.provider, user, lots, rules.today())
    db.session.commit()
    return application


@pytest.fixture
def provider_user(dps):
    provider = make_provider(contact_email="office@brightwater.example")
    return make_user(provider=provider, email="amira@brightwater.example",
                     full_name="Amira Khan")


@pytest.fixture
def complete_draft(dps, provider_user, client):
    """A draft with every section answered and the evidence in place."""
    user = provider_user
    setting = make_setting(user.provider, name="Brightwater East")
    add_demo_evidence(user.provider, [setting], user, "complete", rules.today())
    application = start(user, [dps.lots[0]])
    fill_application(ctx(user), application, user, [setting], complete=True)
    db.session.commit()
    login(client, user)
    return application


def test_users_without_an_organisation_register_one_first(client, dps):
    login(client, make_user(role=Role.PROVIDER_ADMIN))
    r = client.get("/applications/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/organisation/new")


def test_staff_cannot_use_the_provider_journey(client, dps):
    login(client, make_user(role=Role.EVALUATOR))
    assert client.get("/applications/").status_code == 403


def test_dashboard_lists_applications_and_offers_a_new_one(client, dps, provider_user):
    login(client, provider_user)
    r = client.get("/applications/")
    html = r.data.decode()
    assert r.status_code == 200
    assert "You have not started an application yet" in html
    assert "Start a new application" in html
    for endpoint_path in ("/organisation", "/settings", "/evidence/"):
        assert f'href="{endpoint_path}"' in html
    start(provider_user, [dps.lots[0]])
    html = client.get("/applications/").data.decode()
    assert "Draft" in html and "Lot 1: Independent fostering" in html
    assert "Start a new application" in html  # lots 2 to 4 are still open to it


def test_no_start_button_once_every_lot_is_applied_for(client, dps, provider_user):
    start(provider_user, list(dps.lots))
    login(client, provider_user)
    html = client.get("/applications/").data.decode()
    assert "Start a new application" not in html
    assert "You have applied for every lot" in html


def test_start_an_application_for_chosen_lots(client, dps, provider_user):
    login(client, provider_user)
    r = client.get("/applications/new")
    assert r.status_code == 200 and "Lot 4: Independent special schools" in r.data.decode()
    r = client.post("/applications/new", data={"lots": [str(dps.lots[0].id), str(dps.lots[1].id)]})
    assert r.status_code == 303
    application = Application.query.one()
    assert r.headers["Location"].endswith(f"/applications/{application.id}")
    assert [alot.lot.number for alot in application.lots] == [1, 2]
    assert application.status is ApplicationStatus.DRAFT
    assert history("application", application.id)[0].action == "application.created"
    html = client.get(r.headers["Location"]).data.decode()
    assert "Application started" in html


def test_start_refuses_no_lots_and_a_lot_already_applied_for(client, dps, provider_user):
    login(client, provider_user)
    r = client.post("/applications/new", data={})
    assert r.status_code == 400 and "Select at least one lot" in r.data.decode()
    start(provider_user, [dps.lots[0]])
    r = client.post("/applications/new", data={"lots": [str(dps.lots[0].id)]})
    assert r.status_code == 400
    assert ("You already have a draft application for Lot 1: Independent fostering"
            in r.data.decode())
    assert Application.query.count() == 1


def test_several_open_dps_show_their_lots_in_groups(client, dps, provider_user):
    from app.demo import build_dps
    other = build_dps(name="Essex Children's Placements DPS", lead_authority="Essex County Council")
    db.session.commit()
    login(client, provider_user)
    html = client.get("/applications/new").data.decode()
    assert "Essex Children&#39;s Placements DPS" in html and f'id="lots-{other.id}"' in html
    r = client.post("/applications/new", data={"lots": [str(dps.lots[0].id),
                                                         str(other.lots[0].id)]})
    assert r.status_code == 400 and "Select lots from one DPS at a time" in r.data.decode()
    r = client.post("/applications/new", data={"lots": [str(other.lots[1].id)]})
    assert r.status_code == 303
    assert Application.query.one().dps_id == other.id


def test_task_list_shows_each_section_status(client, dps, provider_user):
    application = start(provider_user, [dps.lots[0]])
    login(client, provider_user)
    html = client.get(f"/applications/{application.id}").data.decode()
    assert "govuk-task-list" in html
    assert html.count("Not yet started") == 8
    assert "Cannot start yet" in html
    # "Check your answers" is not a link until every section is complete.
    assert f'/applications/{application.id}/check"' not in html
    rules.confirm_organisation(ctx(provider_user), application)
    db.session.commit()
    html = client.get(f"/applications/{application.id}").data.decode()
    assert html.count("Not yet started") == 7
    assert re.search(r"Organisation details\s*</a>.*?Completed", html, re.S)


def test_full_flow_submit_confirmation_email_and_audit(client, complete_draft, provider_user):
    application = complete_draft
    html = client.get(f"/applications/{application.id}").data.decode()
    assert "Cannot start yet" not in html
    r = client.get(f"/applications/{application.id}/check")
    html = r.data.decode()
    assert r.status_code == 200 and "You cannot submit your application yet" not in html
    assert "£846.00 a week" in html and "Change" in html

    r = client.post(f"/applications/{application.id}/submit",
                    data={"full_name": "Amira Khan", "confirm": "y"})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/applications/{application.id}/confirmation")
    application = db.session.get(Application, application.id)
    reference = application.reference
    assert re.fullmatch(rf"DPS-\d{{4}}-{application.id:06d}", reference)
    assert application.status is ApplicationStatus.SUBMITTED
    assert application.submitted_by_id == provider_user.id
    assert application.organisation_snapshot["legal_name"] == provider_user.provider.legal_name

    html = client.get(r.headers["Location"]).data.decode()
    assert "Application submitted" in html and reference in html
    [mine] = outbox("amira@brightwater.example")
    [office] = outbox("office@brightwater.example")
    assert mine.subject == office.subject == f"Application {reference} received"
    assert reference in mine.body and "Lot 1: Independent fostering" in mine.body
    event = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "application.submitted")).scalar_one()
    assert event.actor_id == provider_user.id and event.after["reference"] == reference

    # The dashboard and the read-only view show the submitted application.
    html = client.get("/applications/").data.decode()
    assert reference in html and "Submitted" in html
    html = client.get(f"/applications/{application.id}").data.decode()
    assert reference in html and "£846.00 a week" in html
    assert f"/applications/{application.id}/prices" not in html  # no Change links


def test_submit_needs_the_final_declaration(client, complete_draft):
    application = complete_draft
    r = client.post(f"/applications/{application.id}/submit", data={"full_name": " "})
    html = r.data.decode()
    assert r.status_code == 400
    assert "Enter your full name" in html
    assert "Confirm the information is true and complete" in html
    assert db.session.get(Application, application.id).status is ApplicationStatus.DRAFT
    assert outbox() == []


def test_submit_refused_lists_each_incomplete_section(client, dps, provider_user):
    application = start(provider_user, [dps.lots[0]])
    login(client, provider_user)
    r = client.post(f"/applications/{application.id}/submit",
                    data={"full_name": "Amira Khan", "confirm": "y"})
    html = r.data.decode()
    assert r.status_code == 400 and "There is a problem" in html
    assert "Confirm your organisation details" in html
    assert f'href="/applications/{application.id}/organisation"' in html
    assert "Upload your public liability insurance" in html
    assert "/evidence/upload?kind=public_liability" in html
    assert db.session.get(Application, application.id).reference is None


def test_submitted_application_cannot_be_changed(client, complete_draft):
    application = complete_draft
    client.post(f"/applications/{application.id}/submit",
                data={"full_name": "Amira Khan", "confirm": "y"})
    application = db.session.get(Application, application.id)
    version = application.version
    pt = application.lots[0].lot.placement_types[0]
    posts = {
        "organisation": {}, "declarations": {}, "lots": {}, "lots/change": {},
        "prices": {f"price_{pt.id}": "1"}, "services": {}, "terms": {}, "quality": {},
        "submit": {"full_name": "Amira Khan", "confirm": "y"},
    }
    for path, data in posts.items():
        r = client.post(f"/applications/{application.id}/{path}",
                        data={"version": str(version), **data})
        assert r.status_code == 409, path
        assert "can no longer be changed" in r.data.decode()
    db.session.expire_all()
    assert db.session.get(Application, application.id).version == version
    assert db.session.execute(sa.select(CeilingPrice.weekly_price).where(
        CeilingPrice.placement_type_id == pt.id)).scalar_one() != 1
    # Section pages lead to the read-only view instead.
    r = client.get(f"/applications/{application.id}/prices")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/applications/{application.id}")


def test_withdraw_a_submitted_application(client, complete_draft, provider_user):
    application = complete_draft
    client.post(f"/applications/{application.id}/submit",
                data={"full_name": "Amira Khan", "confirm": "y"})
    reference = db.session.get(Application, application.id).reference
    r = client.get(f"/applications/{application.id}/withdraw")
    assert r.status_code == 200 and "Withdraw your application" in r.data.decode()
    r = client.post(f"/applications/{application.id}/withdraw", data={"reason": ""})
    assert r.status_code == 400
    assert "Enter why you are withdrawing this application" in r.data.decode()
    r = client.post(f"/applications/{application.id}/withdraw",
                    data={"reason": "We are closing our Essex branch."})
    assert r.status_code == 303 and r.headers["Location"].endswith("/applications/")
    application = db.session.get(Application, application.id)
    assert application.status is ApplicationStatus.WITHDRAWN
    event = history("application", application.id)[-1]
    assert event.action == "application.withdrawn"
    assert event.reason == "We are closing our Essex branch."
    emails = outbox("amira@brightwater.example")
    assert emails[-1].subject == f"Application withdrawn: {reference}"
    html = client.get("/applications/").data.decode()
    assert "Withdrawn" in html and "has been withdrawn" in html
    # Withdrawn is final, and the lot is free to apply for again.
    assert client.post(f"/applications/{application.id}/withdraw").status_code == 409
    assert "Start a new application" in html


def test_withdraw_a_draft_needs_no_reason(client, dps, provider_user):
    application = start(provider_user, [dps.lots[0]])
    login(client, provider_user)
    r = client.post(f"/applications/{application.id}/withdraw", data={})
    assert r.status_code == 303
    assert db.session.get(Application, application.id).status is ApplicationStatus.WITHDRAWN


def _routes(app_id, question_id):
    base = f"/applications/{app_id}"
    gets = ["", "/organisation", "/declarations", "/lots", "/lots/change", "/prices",
            "/services", "/terms", "/evidence", "/quality", "/check", "/confirmation",
            "/withdraw", "/history", "/clarifications", "/outcome"]
    posts = ["/organisation", "/declarations", "/lots", "/lots/change", "/prices",
             "/services", "/terms", "/quality", f"/quality/{question_id}/word-count",
             "/submit", "/withdraw", "/clarifications"]
    return [("GET", base + p) for p in gets] + [("POST", base + p) for p in posts]


def test_another_provider_gets_404_on_every_route(app, client, complete_draft):
    application = complete_draft
    question = application.lots[0].lot.quality_questions[0]
    version = application.version
    intruder = make_user(provider=make_provider())
    login(client, intruder)
    routes = _routes(application.id, question.id)
    # Every application route of the blueprint is covered here.
    covered = {re.sub(r"/\d+", "/<id>", url) for _, url in routes}
    rules_ = {re.sub(r"<int:\w+>", "<id>", r.rule) for r in app.url_map.iter_rules()
              if r.endpoint.startswith("applications.") and "<" in r.rule}
    assert rules_ <= covered
    for method, url in routes:
        r = client.open(url, method=method, headers={"HX-Request": "true"},
                        data={"version": str(version), "reason": "x", "full_name": "X",
                              "confirm": "y", "lots": [str(application.lots[0].lot_id)]})
        assert r.status_code == 404, (method, url)
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.version == version and application.status is ApplicationStatus.DRAFT


def test_task_list_and_check_answers_queries_do_not_grow_with_lots(app, client, dps,
                                                                   provider_user):
    from sqlalchemy import event
    login(client, provider_user)
    one = start(provider_user, [dps.lots[0]])
    other = make_user(provider=make_provider())
    four = start(other, list(dps.lots))
    for application, user in ((one, provider_user), (four, other)):
        fill_application(ctx(user), application, user, [], complete=False)
    db.session.commit()
    counts = {}

    def count(path, user):
        login(client, user)
        statements = []

        def before(conn, cursor, statement, *args):
            statements.append(statement)
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return len(statements)

    for name, application, user in (("one", one, provider_user), ("four", four, other)):
        counts[name] = (count(f"/applications/{application.id}", user),
                        count(f"/applications/{application.id}/check", user))
    assert counts["one"] == counts["four"]
    assert counts["four"][1] <= 20
