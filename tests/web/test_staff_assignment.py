"""Taking and assigning applications from the hub: audited, refused with a
clear message (409) when someone else holds it or the page is out of date,
assignment by managers only, and the hub's links for each lot."""
import pytest

from app.domain.audit import history
from app.domain.states import ApplicationStatus, LotEvaluationStatus, LotOutcome, Role
from app.extensions import db
from app.models import Application, AuditEvent, LotEvaluation
from tests.factories import login
from tests.factories_evaluation import in_evaluation, make_staff, submitted_application

CONFLICT = ("This application has changed since you opened this page. Nothing was saved: "
            "check the latest details and try again.")


def _fresh(application) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application.id)


def _events(application) -> list[str]:
    db.session.expire_all()
    return [e.action for e in history("application", application.id)]


@pytest.fixture
def tom(client, dps):
    user = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    login(client, user)
    return user


def test_an_evaluator_takes_a_submitted_application(client, dps, tom):
    application = submitted_application(dps, lots=(1, 2))
    r = client.post(f"/staff/applications/{application.id}/take",
                    data={"version": application.version})
    assert r.status_code == 303 and r.location.endswith(f"/staff/applications/{application.id}")
    application = _fresh(application)
    assert application.status is ApplicationStatus.IN_EVALUATION
    assert application.assigned_evaluator_id == tom.id
    assert _events(application)[-1] == "application.evaluation_started"
    assert db.session.query(LotEvaluation).count() == 2
    html = client.get(r.location).data.decode()
    assert "You are now evaluating this application." in html
    assert "Tom Okafor (you)" in html and "Take this application" not in html


def test_an_application_someone_else_holds_is_refused(client, dps, tom):
    grace = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    application = in_evaluation(dps, grace)
    events = _events(application)
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert "Grace Lin is evaluating this application." in html
    assert "Take this application" not in html
    r = client.post(f"/staff/applications/{application.id}/take",
                    data={"version": application.version})
    assert r.status_code == 409
    assert "Grace Lin is already evaluating this application" in r.data.decode()
    assert _fresh(application).assigned_evaluator_id == grace.id
    assert _events(application) == events


def test_a_stale_page_changes_nothing(client, dps, tom):
    application = submitted_application(dps)
    stale = application.version - 1 if application.version > 1 else application.version + 1
    r = client.post(f"/staff/applications/{application.id}/take", data={"version": stale})
    assert r.status_code == 409 and CONFLICT in r.data.decode()
    r = client.post(f"/staff/applications/{application.id}/take", data={})
    assert r.status_code == 409
    application = _fresh(application)
    assert application.status is ApplicationStatus.SUBMITTED
    assert application.assigned_evaluator_id is None
    assert _events(application)[-1] == "application.submitted"


def test_admins_and_member_officers_cannot_take(client, dps):
    application = submitted_application(dps)
    for role in (Role.ADMIN, Role.MEMBER_OFFICER):
        login(client, make_staff(role))
        r = client.post(f"/staff/applications/{application.id}/take",
                        data={"version": application.version})
        assert r.status_code == 403
    login(client, make_staff(Role.ADMIN))
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert "Take this application" not in html and 'name="evaluator"' not in html
    assert _fresh(application).status is ApplicationStatus.SUBMITTED


# ------------------------------------------------------------------ assign

@pytest.fixture
def manager(client, dps):
    user = make_staff(Role.MANAGER, full_name="Helen Murray")
    login(client, user)
    return user


def test_a_manager_assigns_a_submitted_application(client, dps, manager):
    grace = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    application = submitted_application(dps)
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert f'<option value="{grace.id}">Grace Lin (Evaluator)</option>' in html
    r = client.post(f"/staff/applications/{application.id}/assign",
                    data={"version": application.version, "evaluator": grace.id})
    assert r.status_code == 303
    application = _fresh(application)
    assert application.status is ApplicationStatus.IN_EVALUATION
    assert application.assigned_evaluator_id == grace.id
    event = history("application", application.id)[-1]
    assert event.action == "application.evaluation_started" and event.actor_id == manager.id
    assert "Grace Lin is now evaluating this application." in client.get(r.location).data.decode()


def test_a_manager_reassigns_with_an_audited_before_and_after(client, dps, manager):
    tom = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    grace = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    application = in_evaluation(dps, tom)
    r = client.post(f"/staff/applications/{application.id}/assign",
                    data={"version": application.version, "evaluator": grace.id})
    assert r.status_code == 303
    assert _fresh(application).assigned_evaluator_id == grace.id
    event = db.session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    assert event.action == "application.evaluator_assigned" and event.internal
    assert event.before == {"evaluator_id": tom.id} and event.after == {"evaluator_id": grace.id}
    assert event.actor_id == manager.id and event.actor_role == "manager"


def test_assigning_needs_a_valid_choice_and_a_fresh_page(client, dps, manager):
    tom = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    officer = make_staff(Role.MEMBER_OFFICER)
    application = in_evaluation(dps, tom)
    url = f"/staff/applications/{application.id}/assign"
    r = client.post(url, data={"version": application.version, "evaluator": ""})
    assert r.status_code == 400
    assert "Select who should evaluate this application" in r.data.decode()
    r = client.post(url, data={"version": application.version, "evaluator": officer.id})
    assert r.status_code == 400 and "Not a valid choice" not in r.data.decode()
    r = client.post(url, data={"version": application.version, "evaluator": tom.id})
    assert r.status_code == 400 and "Tom Okafor is already evaluating" in r.data.decode()
    r = client.post(url, data={"version": application.version + 1,
                               "evaluator": make_staff(Role.EVALUATOR).id})
    assert r.status_code == 409 and CONFLICT in r.data.decode()
    assert _fresh(application).assigned_evaluator_id == tom.id
    assert _events(application)[-1] == "application.evaluation_started"


def test_only_managers_assign(client, dps, tom):
    grace = make_staff(Role.EVALUATOR)
    application = submitted_application(dps)
    r = client.post(f"/staff/applications/{application.id}/assign",
                    data={"version": application.version, "evaluator": grace.id})
    assert r.status_code == 403
    assert _fresh(application).status is ApplicationStatus.SUBMITTED
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert 'name="evaluator"' not in html


def test_a_withdrawn_application_cannot_be_assigned(client, dps, manager):
    from app.domain import applications as rules
    from tests.factories_evaluation import ctx_for, provider_user
    tom = make_staff(Role.EVALUATOR)
    application = in_evaluation(dps, tom)
    rules.withdraw(ctx_for(provider_user(application)), application, "Closing the service")
    db.session.commit()
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert 'name="evaluator"' not in html
    r = client.post(f"/staff/applications/{application.id}/assign",
                    data={"version": application.version, "evaluator": tom.id})
    assert r.status_code == 409 and "withdrawn, so it cannot be assigned" in r.data.decode()


# ------------------------------------------------------------------ the hub's links

def test_the_hub_links_each_lot_to_the_next_step(client, dps, tom):
    application = in_evaluation(dps, tom, lots=(1, 2),
                                declarations={"insolvency": (True, "Administration ended 2021")})
    lot1, lot2 = (alot.lot_id for alot in application.lots)
    base = f"/staff/applications/{application.id}"
    html = client.get(base).data.decode()
    assert html.count("Being evaluated") == 2
    assert f'href="{base}/lots/{lot1}"' in html and f'href="{base}/lots/{lot1}/recommend"' in html
    assert f'href="{base}/documents"' in html and f'href="{base}/exclusions"' in html
    assert f'href="{base}/clarifications/new"' in html and f'href="{base}/changes"' in html
    assert f'href="{base}/lots/{lot1}/moderate"' not in html

    # A lot Tom recommended: a manager who is not Tom moderates it.
    evaluation = application.lots[0].evaluation
    evaluation.status = LotEvaluationStatus.RECOMMENDED
    evaluation.recommendation = LotOutcome.APPROVE
    evaluation.recommended_by_id = tom.id
    db.session.commit()
    html = client.get(base).data.decode()
    assert "Awaiting moderation" in html and "Approve" in html
    assert f'href="{base}/lots/{lot1}/recommend"' not in html
    assert f'href="{base}/lots/{lot2}/recommend"' in html
    login(client, make_staff(Role.MANAGER))
    html = client.get(base).data.decode()
    assert f'href="{base}/lots/{lot1}/moderate"' in html
    # The manager who recommended a lot is told someone else must moderate it.
    evaluation.recommended_by_id = make_staff(Role.MANAGER).id
    db.session.commit()
    login(client, db.session.get(type(tom), evaluation.recommended_by_id))
    html = client.get(base).data.decode()
    assert f'href="{base}/lots/{lot1}/moderate"' not in html
    assert "another manager must moderate it" in html


def test_no_exclusions_link_when_every_declaration_is_clean(client, dps, tom):
    application = in_evaluation(dps, tom)
    html = client.get(f"/staff/applications/{application.id}").data.decode()
    assert "/exclusions" not in html
    assert f'href="/staff/applications/{application.id}/documents"' in html
