"""Recommending, moderating (four eyes) and the provider's outcome, through
the pages and through direct POSTs that never saw them."""
import re

import pytest

from app.domain.states import (ApplicationStatus as A, LotEvaluationStatus as L, LotOutcome,
                               MembershipStatus, Role)
from app.extensions import db
from app.models import AuditEvent, LotEvaluation, Membership, Price
from tests.factories import login, make_provider, make_user, outbox
from tests.factories_evaluation import in_evaluation, make_staff, provider_user

CONFLICT = "This application has changed since you opened this page"


@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR, full_name="Tom Okafor", email="tom@newham.example")


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray", email="helen@newham.example")


@pytest.fixture
def application(dps, evaluator):
    return in_evaluation(dps, evaluator, lots=(1,), name="Brightwater Fostering")


def lot_id(application, number=1):
    return next(a.lot_id for a in application.lots if a.lot.number == number)


def evaluation(application, number=1) -> LotEvaluation:
    ev = next(a.evaluation for a in application.lots if a.lot.number == number)
    db.session.refresh(ev)
    return ev


def recommend_url(application, number=1):
    return f"/staff/applications/{application.id}/lots/{lot_id(application, number)}/recommend"


def moderate_url(application, number=1):
    return f"/staff/applications/{application.id}/lots/{lot_id(application, number)}/moderate"


def recommend(client, application, number=1, outcome="approve", version=None, **extra):
    data = {"recommendation": outcome, "reasons": "All criteria met; quality 78/100.",
            "feedback": "Your safeguarding answer was excellent.",
            "version": version if version is not None else evaluation(application, number).version,
            **extra}
    return client.post(recommend_url(application, number), data=data)


def moderate(client, application, decision="confirm", number=1, version=None, comment=""):
    data = {"decision": decision, "comment": comment,
            "version": version if version is not None else evaluation(application, number).version}
    return client.post(moderate_url(application, number), data=data)


def count_events():
    return AuditEvent.query.count()


# ------------------------------------------------------------ access

@pytest.mark.parametrize("role,status", [
    (Role.EVALUATOR, 200), (Role.MANAGER, 200), (Role.ADMIN, 403), (Role.MEMBER_OFFICER, 403),
    (Role.PROVIDER_ADMIN, 403)])
def test_who_may_recommend(client, application, role, status):
    login(client, make_user(role=role))
    assert client.get(recommend_url(application)).status_code == status


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.ADMIN, Role.MEMBER_OFFICER,
                                  Role.PROVIDER_ADMIN])
def test_only_managers_moderate(client, application, evaluator, role):
    login(client, evaluator)
    recommend(client, application)
    login(client, make_user(role=role))
    before = count_events()
    assert client.get(moderate_url(application)).status_code == 403
    assert moderate(client, application).status_code == 403
    assert evaluation(application).status is L.RECOMMENDED
    assert count_events() == before


def test_unknown_lot_or_draft_is_not_found(client, application, evaluator, dps):
    login(client, evaluator)
    other_lot = dps.lots[3].id
    assert client.get(f"/staff/applications/{application.id}/lots/{other_lot}/recommend"
                      ).status_code == 404
    assert client.get(f"/staff/applications/999999/lots/{lot_id(application)}/recommend"
                      ).status_code == 404


# ------------------------------------------------------------ recommend

def test_recommend_page_shows_the_evaluation_and_the_form(client, application, evaluator):
    login(client, evaluator)
    html = client.get(recommend_url(application)).data.decode()
    assert "Recommend a decision on Lot 1" in html
    assert "Brightwater Fostering" in html and application.reference in html
    assert "Not scored yet" in html
    assert 'name="version"' in html and 'value="approve"' in html
    assert "The provider does not see these" in html


def test_recommending_needs_a_choice_reasons_and_feedback(client, application, evaluator):
    login(client, evaluator)
    before = count_events()
    r = client.post(recommend_url(application),
                    data={"version": evaluation(application).version, "reasons": "Typed"})
    html = r.data.decode()
    assert r.status_code == 400
    assert "Select whether to recommend approval or rejection" in html
    assert "Enter the feedback for the provider" in html
    assert ">Typed</textarea>" in html  # what was typed is kept
    assert evaluation(application).status is L.OPEN and count_events() == before


def test_recommending_the_only_lot_sends_it_for_moderation(client, application, evaluator,
                                                           manager):
    inactive = make_staff(Role.MANAGER, is_active_account=False)
    login(client, evaluator)
    before = count_events()
    r = recommend(client, application)
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/staff/applications/{application.id}")
    ev = evaluation(application)
    assert ev.status is L.RECOMMENDED and ev.recommendation is LotOutcome.APPROVE
    assert ev.recommended_by_id == evaluator.id
    assert ev.feedback == "Your safeguarding answer was excellent."
    db.session.refresh(application)
    assert application.status is A.RECOMMENDED
    # One event for the lot, one for the application.
    assert count_events() == before + 2
    [mail] = outbox(manager.email)
    assert mail.template == "recommendation_ready"
    assert application.reference in mail.subject
    assert "Lot 1: Independent fostering: recommended approval" in mail.body
    assert moderate_url(application) in mail.body
    assert not outbox(inactive.email) and not outbox(evaluator.email)
    # The page now says why it cannot be recommended again.
    html = client.get(recommend_url(application)).data.decode()
    assert "You cannot recommend this lot now" in html and 'name="reasons"' not in html


def test_a_second_recommendation_on_a_stale_page_is_refused(client, application, evaluator):
    """Two evaluators open the page at the same version; the second to save
    gets 409 and the first one's recommendation stands."""
    colleague = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    version = evaluation(application).version
    login(client, evaluator)
    assert recommend(client, application, version=version).status_code == 303
    login(client, colleague)
    before = count_events()
    r = recommend(client, application, outcome="reject", version=version,
                  feedback="Overwritten?")
    assert r.status_code == 409
    assert CONFLICT in r.data.decode()
    ev = evaluation(application)
    assert ev.recommendation is LotOutcome.APPROVE and ev.recommended_by_id == evaluator.id
    assert ev.feedback == "Your safeguarding answer was excellent."
    assert count_events() == before


def test_recommending_waits_for_a_clarification(client, application, evaluator):
    application.status = A.CLARIFICATION_REQUESTED
    db.session.commit()
    login(client, evaluator)
    page = client.get(recommend_url(application)).data.decode()
    assert "You cannot recommend this lot now" in page
    r = recommend(client, application)
    assert r.status_code == 409
    assert "clarification requested" in r.data.decode()
    assert evaluation(application).status is L.OPEN


# ------------------------------------------------------------ four eyes

def test_the_manager_who_recommended_cannot_confirm_even_by_direct_post(client, application):
    boss = make_staff(Role.MANAGER, full_name="Priya Boss")
    login(client, boss)
    assert recommend(client, application).status_code == 303
    html = client.get(moderate_url(application)).data.decode()
    assert "You recommended this lot, so a different commissioning manager" in html
    assert 'name="decision"' not in html
    before = count_events()
    for decision in ("confirm", "return"):
        r = moderate(client, application, decision, comment="Looks fine to me")
        assert r.status_code == 403
        assert "a different commissioning manager must confirm or return it" in r.data.decode()
    ev = evaluation(application)
    assert ev.status is L.RECOMMENDED and ev.outcome is None and ev.moderated_by_id is None
    db.session.refresh(application)
    assert application.status is A.RECOMMENDED
    assert count_events() == before
    assert Membership.query.count() == 0


# ------------------------------------------------------------ moderate

def test_moderation_page_shows_the_recommendation(client, application, evaluator, manager):
    ev = evaluation(application)
    ev.quality_total = 78.5
    db.session.commit()
    login(client, evaluator)
    recommend(client, application)
    login(client, manager)
    html = client.get(moderate_url(application)).data.decode()
    assert "Moderate the recommendation on Lot 1" in html
    assert "Tom Okafor" in html and "All criteria met; quality 78/100." in html
    assert "Your safeguarding answer was excellent." in html
    assert "78.50 out of 100" in html
    assert 'value="confirm"' in html and 'value="return"' in html


def test_returning_needs_comments_and_reopens_evaluation(client, application, evaluator,
                                                         manager):
    login(client, evaluator)
    recommend(client, application)
    login(client, manager)
    r = moderate(client, application, "return")
    assert r.status_code == 400 and "Enter your comments for the evaluator" in r.data.decode()
    assert evaluation(application).status is L.RECOMMENDED
    before = count_events()
    r = moderate(client, application, "return", comment="Please rescore the outcomes answer.")
    assert r.status_code == 303
    ev = evaluation(application)
    assert ev.status is L.OPEN and ev.moderation_comment == "Please rescore the outcomes answer."
    db.session.refresh(application)
    assert application.status is A.IN_EVALUATION
    assert count_events() == before + 2  # the lot, and the application
    [mail] = outbox(evaluator.email)
    assert mail.template == "recommendation_returned"
    assert "Please rescore the outcomes answer." in mail.body
    assert recommend_url(application) in mail.body
    # The evaluator sees the comments, and their feedback kept, when recommending again.
    login(client, evaluator)
    html = client.get(recommend_url(application)).data.decode()
    assert "Returned by Helen Murray" in html and "Please rescore the outcomes answer." in html
    assert "Your safeguarding answer was excellent.</textarea>" in html


def test_confirming_decides_and_tells_the_provider(client, application, evaluator, manager):
    user = provider_user(application)
    login(client, evaluator)
    recommend(client, application)
    login(client, manager)
    before = count_events()
    r = moderate(client, application, "confirm")
    assert r.status_code == 303
    db.session.refresh(application)
    assert application.status is A.DECIDED and application.decided_at is not None
    ev = evaluation(application)
    assert ev.status is L.DECIDED and ev.outcome is LotOutcome.APPROVE
    assert ev.moderated_by_id == manager.id
    # Lot decided, application decided, membership created, prices set.
    assert count_events() == before + 4
    membership = Membership.query.filter_by(provider_id=application.provider_id).one()
    assert membership.status is MembershipStatus.ACTIVE
    assert Price.query.filter_by(provider_id=application.provider_id).count() > 0
    [mail] = outbox(user.email)
    assert mail.template == "decision_made"
    assert "Lot 1: Independent fostering: Approved" in mail.body
    assert "Your safeguarding answer was excellent." in mail.body
    assert "All criteria met" not in mail.body  # the reasons are for staff only
    assert f"/applications/{application.id}/outcome" in mail.body
    assert outbox(application.provider.contact_email)


def test_two_managers_on_the_same_lot_the_second_gets_409(client, application, evaluator,
                                                          manager):
    login(client, evaluator)
    recommend(client, application)
    second = make_staff(Role.MANAGER, full_name="Sam Second")
    version = evaluation(application).version
    login(client, manager)
    assert moderate(client, application, "confirm", version=version).status_code == 303
    login(client, second)
    before = count_events()
    r = moderate(client, application, "return", version=version, comment="Not convinced")
    assert r.status_code == 409 and CONFLICT in r.data.decode()
    ev = evaluation(application)
    assert ev.status is L.DECIDED and ev.moderated_by_id == manager.id
    assert ev.moderation_comment is None
    assert count_events() == before


def test_a_lot_can_be_returned_before_the_others_are_recommended(client, dps, evaluator,
                                                                 manager):
    application = in_evaluation(dps, evaluator, lots=(1, 2))
    login(client, evaluator)
    recommend(client, application, 1)
    login(client, manager)
    html = client.get(moderate_url(application, 1)).data.decode()
    assert "Other lots of this application are still being evaluated" in html
    r = moderate(client, application, "confirm", 1)
    assert r.status_code == 409 and "once every lot" in r.data.decode()
    assert moderate(client, application, "return", 1, comment="Check Q3").status_code == 303
    assert evaluation(application, 1).status is L.OPEN
    db.session.refresh(application)
    assert application.status is A.IN_EVALUATION


# ------------------------------------------------------------ outcome

def decide(client, application, evaluator, manager, outcomes):
    for number, outcome in outcomes.items():
        login(client, evaluator)
        assert recommend(client, application, number, outcome,
                         feedback=f"Feedback on lot {number}.").status_code == 303
    for number in outcomes:
        login(client, manager)
        assert moderate(client, application, "confirm", number).status_code == 303


def test_the_provider_sees_the_outcome_feedback_and_prices(client, dps, evaluator, manager):
    application = in_evaluation(dps, evaluator, lots=(1, 2))
    decide(client, application, evaluator, manager, {1: "approve", 2: "reject"})
    user = provider_user(application)
    login(client, user)
    r = client.get(f"/applications/{application.id}/outcome")
    html = r.data.decode()
    assert r.status_code == 200
    assert "Approved" in html and "Not approved" in html
    assert "Feedback on lot 1." in html and "Feedback on lot 2." in html
    assert "All criteria met" not in html
    assert re.search(r"You are now on Lot 1 from \d+ \w+ \d{4}", html)
    cheapest = min(cp.weekly_price for cp in application.ceiling_prices
                   if cp.placement_type.lot.number == 1)
    assert f"£{cheapest:,.2f} per week" in html
    assert "Out-of-hours emergency placement assessment" in html  # their own item
    assert 'href="/applications/new"' in html and "apply again for Lot 2" in html
    [mail] = outbox(user.email)
    assert "Lot 2: Children's residential homes: Not approved" in mail.body
    assert "Feedback on lot 2." in mail.body and "/applications/new" in mail.body
    # The read-only application links to the outcome.
    view = client.get(f"/applications/{application.id}").data.decode()
    assert f'href="/applications/{application.id}/outcome"' in view
    # Lot 2 can be applied for again; lot 1 cannot.
    r = client.post("/applications/new", data={"lots": str(lot_id(application, 2))})
    assert r.status_code == 303
    r = client.post("/applications/new", data={"lots": str(lot_id(application, 1))})
    assert r.status_code == 400 and "cannot apply for the same lot twice" in r.data.decode()


def test_no_decision_yet(client, application):
    login(client, provider_user(application))
    r = client.get(f"/applications/{application.id}/outcome")
    assert r.status_code == 200
    assert "No decision yet" in r.data.decode()
    assert f'/applications/{application.id}/outcome' not in \
        client.get(f"/applications/{application.id}").data.decode()


def test_another_providers_outcome_is_not_found(client, application, evaluator, manager):
    decide(client, application, evaluator, manager, {1: "approve"})
    stranger = make_user(role=Role.PROVIDER_ADMIN, provider=make_provider())
    login(client, stranger)
    assert client.get(f"/applications/{application.id}/outcome").status_code == 404
    login(client, manager)
    assert client.get(f"/applications/{application.id}/outcome").status_code == 403
