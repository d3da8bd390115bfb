"""An application's history: staff see every event about it, its lots and its
clarifications; the provider sees only events not marked internal, with the
lead authority's staff unnamed; nobody else sees it."""
import html
import re

import pytest

from app.domain import audit, queue
from app.domain.states import Role
from app.extensions import db
from app.domain.reference import DocumentKind
from app.models import Clarification, Document
from tests.factories import login, make_provider, make_user
from tests.factories_evaluation import (ctx_for, in_evaluation, make_staff, provider_user,
                                        submitted_application)


def _text(page: str) -> str:
    """The page's words, without tags, on one line."""
    main = page[page.index("<main"):page.index("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


@pytest.fixture
def story(dps, app_ctx):
    """Submitted, taken by Tom, reassigned to Grace (internal), a question
    asked and lot 1 recommended; plus an event about another application."""
    tom = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    grace = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    manager = make_staff(Role.MANAGER, full_name="Helen Murray")
    application = in_evaluation(dps, tom, lots=(1, 2))
    queue.assign(ctx_for(manager), application, grace, reason="Tom is on leave")
    clarification = Clarification(application_id=application.id, asked_by_id=grace.id,
                                   question="Explain the price of solo placements")
    db.session.add(clarification)
    db.session.flush()
    audit.record(ctx_for(grace), "clarification.asked", "clarification", clarification.id,
                 provider_id=application.provider_id,
                 after={"question": clarification.question, "asked_by_id": grace.id})
    lot_evaluation = application.lots[0].evaluation
    audit.record(ctx_for(grace), "lot_evaluation.recommended", "lot_evaluation",
                 lot_evaluation.id, provider_id=application.provider_id,
                 before={"status": "open"},
                 after={"status": "recommended", "recommendation": "approve",
                        "recommended_by_id": grace.id},
                 reason="Meets every minimum criterion", internal=True)
    audit.record(ctx_for(grace), "lot_evaluation.price_flagged", "lot_evaluation",
                 lot_evaluation.id, provider_id=application.provider_id)
    audit.record(ctx_for(grace), "exclusion.decided", "application", application.id,
                 provider_id=application.provider_id,
                 after={"ground": "insolvency", "outcome": "self_cleaning_accepted",
                        "decision_id": 1}, internal=True)
    # Document checks name the application they were made for.
    document = Document.query.filter_by(provider_id=application.provider_id,
                                        kind=DocumentKind.PUBLIC_LIABILITY).one()
    audit.record(ctx_for(grace), "document.rejected", "document", document.id,
                 provider_id=application.provider_id, before={"status": "awaiting_check"},
                 after={"status": "rejected", "application_id": application.id,
                        "rejection_reason": "The policy has no insurer's stamp"})
    other = in_evaluation(dps, tom, provider=application.provider, lots=(3,))
    audit.record(ctx_for(tom), "lot_evaluation.scored", "lot_evaluation",
                 other.lots[0].evaluation.id, provider_id=other.provider_id,
                 reason="Another application's scoring")
    audit.record(ctx_for(tom), "document.verified", "document", document.id,
                 provider_id=other.provider_id,
                 after={"status": "verified", "application_id": other.id})
    db.session.commit()
    return application


def test_staff_see_every_step_with_names_roles_and_changes(client, story):
    login(client, make_staff(Role.EVALUATOR))
    r = client.get(f"/staff/applications/{story.id}/history")
    assert r.status_code == 200
    text = _text(r.data.decode())
    submitter = provider_user(story)
    for expected in (
            f"Application submitted {submitter.full_name} (Provider administrator)",
            "Status: changed from Draft to Submitted",
            "Evaluation started Tom Okafor (Evaluator)",
            "Status: changed from Submitted to In evaluation",
            "Evaluator assigned Staff only Helen Murray (Commissioning manager)",
            "Reason: Tom is on leave",
            "Evaluator: changed from Tom Okafor to Grace Lin",
            "Clarification question asked: Clarification Grace Lin (Evaluator)",
            "Question: Explain the price of solo placements",
            "Recommendation made: Lot 1 Staff only Grace Lin (Evaluator)",
            "Status: changed from Being evaluated to Awaiting moderation",
            "Recommendation: Approve", "Recommended by: Grace Lin",
            "Lot evaluation: price flagged: Lot 1",
            "Exclusion decision recorded Staff only Grace Lin (Evaluator)",
            "Ground: Insolvency", "Outcome: Self-cleaning accepted",
            "Document rejected: Public liability insurance Grace Lin (Evaluator)",
            "Status: changed from Awaiting check to Rejected",
            "Reason for rejecting: The policy has no insurer's stamp"):
        assert expected in text, expected
    assert "Another application's scoring" not in text and "Document verified" not in text
    assert "Application: " not in text and "Decision: " not in text  # ids joining records
    # Most recent first.
    assert text.index("price flagged") < text.index("Evaluator assigned") \
        < text.index("Application submitted") < text.index("Application started")


def test_the_provider_sees_its_own_events_without_staff_names(client, story):
    login(client, provider_user(story))
    r = client.get(f"/applications/{story.id}/history")
    assert r.status_code == 200
    text = _text(r.data.decode())
    assert "Application submitted" in text and "Evaluation started Lead authority" in text
    assert "Clarification question asked: Clarification Lead authority" in text
    assert "Document rejected: Public liability insurance Lead authority" in text
    assert "Reason for rejecting: The policy has no insurer's stamp" in text
    for hidden in ("Tom Okafor", "Grace Lin", "Helen Murray", "Evaluator assigned",
                   "Tom is on leave", "Recommendation made", "Meets every minimum criterion",
                   "Staff only", "Evaluator:", "Asked by", "Another application's scoring",
                   "Exclusion decision", "Document verified"):
        assert hidden not in text, hidden
    # The read-only view of the application links to it.
    view = client.get(f"/applications/{story.id}").data.decode()
    assert f'href="/applications/{story.id}/history"' in view


def test_nobody_else_sees_a_providers_history(client, story, dps):
    stranger = make_user(provider=make_provider())
    login(client, stranger)
    assert client.get(f"/applications/{story.id}/history").status_code == 404
    # Their own application's history is theirs to see.
    own = submitted_application(dps, provider=stranger.provider, user=stranger)
    assert client.get(f"/applications/{own.id}/history").status_code == 200
    login(client, make_staff(Role.EVALUATOR))
    assert client.get(f"/applications/{story.id}/history").status_code == 403
