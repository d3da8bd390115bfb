"""Clarification through the browser: an evaluator asks, the provider answers
(with a document), and the evaluator sees exactly what changed."""
import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.demo import demo_pdf
from app.domain.reference import DocumentKind
from app.domain.states import ApplicationStatus, DocumentStatus, Role
from app.extensions import db
from app.models import AuditEvent, Clarification, Document, SnapshotView
from tests.factories import login, make_provider, make_user, outbox
from tests.factories_evaluation import in_evaluation, make_staff, provider_user, \
    submitted_application

A = ApplicationStatus


@pytest.fixture
def evaluator(dps, app_ctx):
    return make_staff(Role.EVALUATOR, email="eve@lead.example", full_name="Eve Evaluator")


@pytest.fixture
def application(dps, evaluator):
    provider = make_provider(trading_name="Brightwater", contact_email="office@brightwater.example")
    admin = make_user(Role.PROVIDER_ADMIN, provider, email="amira@brightwater.example")
    make_user(Role.PROVIDER_USER, provider, email="sam@brightwater.example")
    return in_evaluation(dps, evaluator, provider=provider, user=admin)


def ask_url(application, **query):
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/staff/applications/{application.id}/clarifications/new" + (
        "?" + extra[1:] if extra else "")


def respond_url(application):
    return f"/applications/{application.id}/clarifications"


def changes_url(application):
    return f"/staff/applications/{application.id}/changes"


def ask(client, application, *questions, version=None):
    data = {"action": "save", "version": version or application.version,
            "rows": str(len(questions))}
    data.update({f"question_{n}": q for n, q in enumerate(questions, start=1)})
    return client.post(ask_url(application), data=data)


def clarifications(application):
    return db.session.execute(
        sa.select(Clarification).where(Clarification.application_id == application.id)
        .order_by(Clarification.id)).scalars().all()


def snapshot_of_state(application):
    db.session.expire_all()
    return (application.status, application.version, application.waiting_seconds,
            len(clarifications(application)),
            db.session.query(AuditEvent).count(), db.session.query(Document).count())


# ------------------------------------------------------------------ asking

def test_evaluator_asks_questions_and_the_provider_is_told(client, application, evaluator):
    login(client, evaluator)
    r = client.get(ask_url(application))
    assert r.status_code == 200
    assert "Ask the provider for clarification" in r.text
    assert f'name="version" type="hidden" value="{application.version}"' in r.text

    r = ask(client, application, "Explain your staffing ratios.", "",
            "Send your updated safeguarding policy.")
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/staff/applications/{application.id}")
    db.session.expire_all()
    assert application.status is A.CLARIFICATION_REQUESTED
    assert application.waiting_since is not None
    assert [c.question for c in clarifications(application)] == [
        "Explain your staffing ratios.", "Send your updated safeguarding policy."]
    assert all(c.asked_by_id == evaluator.id for c in clarifications(application))
    [event] = AuditEvent.query.filter_by(action="application.clarification_requested").all()
    assert event.internal is False and event.provider_id == application.provider_id

    # Provider administrators and the contact address; not other provider users.
    sent = {m.to for m in outbox() if m.template == "clarification_requested"}
    assert sent == {"amira@brightwater.example", "office@brightwater.example"}
    [message] = outbox("amira@brightwater.example")[-1:]
    assert message.subject == f"Clarification needed: application {application.reference}"
    assert "Question 2:\nSend your updated safeguarding policy." in message.body
    assert f"/applications/{application.id}/clarifications" in message.body


def test_add_another_question_works_with_and_without_htmx(client, application, evaluator):
    login(client, evaluator)
    form = {"action": "add", "rows": "1", "version": application.version,
            "question_1": "First question"}
    r = client.post(ask_url(application), data=form)
    assert r.status_code == 200 and "<html" in r.text
    assert 'name="question_2"' in r.text and "First question" in r.text
    assert 'name="question_3"' not in r.text

    r = client.post(ask_url(application), data={**form, "rows": "2"},
                    headers={"HX-Request": "true", "HX-Target": "ask-form"})
    assert r.status_code == 200 and "<html" not in r.text
    assert r.text.lstrip().startswith('<form id="ask-form"') and 'name="question_3"' in r.text
    assert clarifications(application) == []  # adding a box saves nothing

    r = client.post(ask_url(application), data={**form, "rows": "5"})
    assert 'name="question_5"' in r.text and "Add another question" not in r.text


def test_a_blank_request_is_refused_with_the_questions_kept(client, application, evaluator):
    login(client, evaluator)
    r = ask(client, application, "", "")
    assert r.status_code == 400
    assert "Enter a question for the provider" in r.text
    assert clarifications(application) == []


def test_price_question_is_prefilled(client, application, evaluator):
    login(client, evaluator)
    price = application.ceiling_prices[0]
    pt = price.placement_type
    r = client.get(ask_url(application, placement_type_id=pt.id))
    assert r.status_code == 200
    assert f"Please explain your ceiling price of £{price.weekly_price:,.2f} a week for" in r.text
    assert f'name="placement_type_id" type="hidden" value="{pt.id}"' in r.text
    r = client.post(ask_url(application), data={
        "action": "save", "version": application.version, "rows": "1",
        "placement_type_id": pt.id, "question_1": "Please explain your price."})
    assert r.status_code == 303
    assert clarifications(application)[0].placement_type_id == pt.id

    # A placement type of a lot not applied for is not found.
    other = next(t for lot in application.dps.lots if lot.id != pt.lot_id
                 for t in lot.placement_types)
    assert client.get(ask_url(application, placement_type_id=other.id)).status_code == 404
    assert client.get(ask_url(application, placement_type_id="x")).status_code == 404


def test_a_stale_page_changes_nothing(client, application, evaluator):
    login(client, evaluator)
    before = snapshot_of_state(application)
    r = ask(client, application, "Why?", version=application.version - 1)
    assert r.status_code == 409
    assert "This application has changed since you opened this page. Nothing was saved" in r.text
    assert snapshot_of_state(application) == before


def test_asking_is_refused_unless_in_evaluation(client, dps, evaluator):
    application = submitted_application(dps)
    login(client, evaluator)
    before = snapshot_of_state(application)
    assert client.get(ask_url(application)).status_code == 409
    r = ask(client, application, "Why?")
    assert r.status_code == 409
    assert "You can only ask for clarification while an application is in evaluation" in r.text
    assert snapshot_of_state(application) == before


def test_asking_twice_is_refused_while_waiting(client, application, evaluator):
    login(client, evaluator)
    assert ask(client, application, "Why?").status_code == 303
    db.session.expire_all()
    before = snapshot_of_state(application)
    r = ask(client, application, "And?", version=application.version)
    assert r.status_code == 409 and "clarification requested" in r.text
    assert snapshot_of_state(application) == before


@pytest.mark.parametrize("role, status", [(Role.MEMBER_OFFICER, 403), (Role.ADMIN, 403),
                                          (Role.MANAGER, 200)])
def test_who_may_ask(client, application, role, status):
    login(client, make_staff(role))
    assert client.get(ask_url(application)).status_code == status


def test_providers_cannot_ask(client, application):
    login(client, provider_user(application))
    assert client.get(ask_url(application)).status_code == 403


# ------------------------------------------------------------------ answering

@pytest.fixture
def asked(client, application, evaluator):
    login(client, evaluator)
    assert ask(client, application, "Explain your staffing ratios.",
               "Send your new public liability certificate.").status_code == 303
    db.session.expire_all()
    user = provider_user(application)
    login(client, user)
    return application


def answer_form(application, **extra):
    questions = clarifications(application)
    data = {"version": application.version, "document_kind": ""}
    data.update({f"answer_{c.id}": f"Answer to {c.question}" for c in questions})
    data.update(extra)
    return data


def test_provider_sees_the_banner_and_the_questions(client, asked):
    r = client.get("/applications/")
    assert "The lead authority has asked for clarification" in r.text
    assert f'href="/applications/{asked.id}/clarifications"' in r.text
    r = client.get(f"/applications/{asked.id}")
    assert "The lead authority has asked for clarification" in r.text
    r = client.get(respond_url(asked))
    assert r.status_code == 200
    assert "Explain your staffing ratios." in r.text and "Question 2" in r.text
    for c in clarifications(asked):
        assert f'name="answer_{c.id}"' in r.text


def test_provider_answers_with_a_document(client, asked, evaluator):
    with time_machine.travel(datetime.now() + timedelta(days=2), tick=False):
        r = client.post(respond_url(asked), content_type="multipart/form-data",
                        data=answer_form(asked, **{
                            "document_kind": DocumentKind.PUBLIC_LIABILITY.value,
                            "document-file": (io.BytesIO(demo_pdf("Certificate")), "pl-2026.pdf"),
                            "document-insurer": "Aviva", "document-policy_number": "PL-77",
                            "document-cover_amount": "10,000,000",
                            "document-expires_on": ["31", "3", "2030"]}))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/applications/{asked.id}")
    db.session.expire_all()
    assert asked.status is A.IN_EVALUATION and asked.waiting_since is None
    assert 2 * 86400 - 60 <= asked.waiting_seconds <= 2 * 86400 + 60
    document = Document.query.filter_by(original_filename="pl-2026.pdf").one()
    assert document.kind is DocumentKind.PUBLIC_LIABILITY and document.insurer == "Aviva"
    assert document.status is DocumentStatus.AWAITING_CHECK
    assert all(c.answer == f"Answer to {c.question}" and c.answer_document_id == document.id
               for c in clarifications(asked))
    # The certificate it replaces is kept as an earlier version.
    assert Document.query.filter_by(provider_id=asked.provider_id,
                                    kind=DocumentKind.PUBLIC_LIABILITY,
                                    status=DocumentStatus.SUPERSEDED).count() == 1
    [event] = AuditEvent.query.filter_by(action="application.clarification_answered").all()
    assert event.after["document"] == "pl-2026.pdf" and event.internal is False
    assert event.after["questions_answered"] == 2

    mails = [m for m in outbox() if m.template == "clarification_answered"]
    assert {m.to for m in mails} == {evaluator.email}
    assert "answered 2 clarification questions" in mails[0].body
    assert "pl-2026.pdf" in mails[0].body and f"/staff/applications/{asked.id}/changes" in mails[0].body

    # The banner has gone; the answers are shown read-only.
    login(client, provider_user(asked))  # the session was last used two days ahead
    assert "asked for clarification" not in client.get("/applications/").text
    r = client.get(respond_url(asked))
    assert "You have answered every question" in r.text and "Answer to Explain" in r.text
    assert 'name="answer_' not in r.text


def test_answers_are_required_and_nothing_is_saved_without_them(client, asked):
    before = snapshot_of_state(asked)
    first, second = clarifications(asked)
    r = client.post(respond_url(asked), data=answer_form(asked, **{f"answer_{second.id}": ""}))
    assert r.status_code == 400
    assert "Error:" in r.text and "Enter your answer to question 2" in r.text
    assert f"Answer to {first.question}" in r.text  # kept
    assert snapshot_of_state(asked) == before


def test_a_file_is_judged_by_its_content(client, asked):
    before = snapshot_of_state(asked)
    r = client.post(respond_url(asked), content_type="multipart/form-data",
                    data=answer_form(asked, **{
                        "document_kind": DocumentKind.SAFEGUARDING_POLICY.value,
                        "document-file": (io.BytesIO(b"<html>not a pdf</html>"), "policy.pdf")}))
    assert r.status_code == 400
    assert "The selected file must be a PDF, Word document (DOCX), PNG or JPEG" in r.text
    assert snapshot_of_state(asked) == before

    r = client.post(respond_url(asked), content_type="multipart/form-data",
                    data=answer_form(asked, **{
                        "document-file": (io.BytesIO(demo_pdf("Policy")), "policy.pdf")}))
    assert r.status_code == 400 and "Select what the document is" in r.text

    r = client.post(respond_url(asked), content_type="multipart/form-data",
                    data=answer_form(asked, **{
                        "document_kind": DocumentKind.PUBLIC_LIABILITY.value,
                        "document-file": (io.BytesIO(demo_pdf("PL")), "pl.pdf")}))
    assert r.status_code == 400 and "Enter the name of the insurer" in r.text
    assert "Select the file again" in r.text
    assert snapshot_of_state(asked) == before


def test_a_stale_answer_page_changes_nothing(client, asked):
    before = snapshot_of_state(asked)
    r = client.post(respond_url(asked), data=answer_form(asked, version=asked.version - 1))
    assert r.status_code == 409 and "Nothing was saved" in r.text
    assert snapshot_of_state(asked) == before


def test_answering_is_refused_unless_clarification_requested(client, application):
    login(client, provider_user(application))
    before = snapshot_of_state(application)
    r = client.get(respond_url(application))
    assert r.status_code == 200 and "has not asked you any questions" in r.text
    r = client.post(respond_url(application), data={"version": application.version})
    assert r.status_code == 409 and "There are no questions to answer" in r.text
    assert snapshot_of_state(application) == before


def test_another_providers_clarifications_are_not_found(client, asked, dps):
    stranger = make_user(Role.PROVIDER_ADMIN, make_provider())
    login(client, stranger)
    before = snapshot_of_state(asked)
    assert client.get(respond_url(asked)).status_code == 404
    assert client.post(respond_url(asked), data=answer_form(asked)).status_code == 404
    assert snapshot_of_state(asked) == before
    login(client, make_user(Role.PROVIDER_ADMIN))  # no organisation yet
    assert client.get(respond_url(asked)).status_code == 404


def test_staff_cannot_answer(client, asked, evaluator):
    login(client, evaluator)
    assert client.get(respond_url(asked)).status_code == 403


# ------------------------------------------------------------------ what changed

def change_rows(html):
    body = html.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in body.split("</tr>")[:-1]:
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([re.sub(r"\s+", " ", re.sub(r"<br>", "\n", c)).strip() for c in cells])
    return rows


def test_changes_page_shows_what_changed_since_last_seen(client, asked, evaluator):
    login(client, evaluator)
    r = client.get(changes_url(asked))
    assert r.status_code == 200
    assert "This is the first version you have seen" in r.text
    assert "govuk-table__body" not in r.text
    assert db.session.get(SnapshotView, (asked.id, evaluator.id)) is not None

    login(client, provider_user(asked))
    r = client.post(respond_url(asked), content_type="multipart/form-data",
                    data=answer_form(asked, **{
                        "document_kind": DocumentKind.SAFEGUARDING_POLICY.value,
                        "document-file": (io.BytesIO(demo_pdf("Policy 2026")), "policy-2026.pdf")}))
    assert r.status_code == 303

    login(client, evaluator)
    r = client.get(changes_url(asked))
    assert r.status_code == 200 and "3 changes since you last looked" in r.text
    rows = change_rows(r.text)
    assert [row[:2] for row in rows] == [
        ["Documents", "Safeguarding policy"],
        ["Clarifications", "Question 1"],
        ["Clarifications", "Question 2"],
    ]
    policy = rows[0]
    assert "File: safeguarding-policy.pdf" in policy[2] and "File: policy-2026.pdf" in policy[3]
    assert "Not in this version" in rows[1][2]
    assert "Answer: Answer to Explain your staffing ratios." in rows[1][3]
    assert "Supporting document: policy-2026.pdf" in rows[1][3]

    # Seen now: nothing more to show.
    r = client.get(changes_url(asked))
    assert "Nothing has changed since you last looked" in r.text

    # Each member of staff has their own "last seen": someone who has not looked
    # here before is shown what changed since the application was submitted.
    manager = make_staff(Role.MANAGER)
    login(client, manager)
    assert "3 changes since you last looked" in client.get(changes_url(asked)).text


@pytest.mark.parametrize("role, status", [(Role.ADMIN, 200), (Role.MANAGER, 200),
                                          (Role.MEMBER_OFFICER, 403)])
def test_who_may_see_changes(client, application, role, status):
    login(client, make_staff(role))
    assert client.get(changes_url(application)).status_code == status


def test_changes_of_a_draft_are_not_found(client, dps, evaluator):
    from app.domain import applications as rules
    from tests.factories_evaluation import ctx_for
    user = make_user(Role.PROVIDER_ADMIN, make_provider())
    draft = rules.start_application(ctx_for(user), user.provider, user, [dps.lots[0]],
                                    rules.today())
    db.session.commit()
    login(client, evaluator)
    assert client.get(changes_url(draft)).status_code == 404
    assert client.get(ask_url(draft)).status_code == 404
