"""Download your data: everything the portal holds about the signed-in person,
and nobody else's, without secrets; the same from `flask export-personal-data`."""
import json

import sqlalchemy as sa

from app.domain import audit
from app.domain.reference import DocumentKind
from app.domain.states import ConcernCategory, Role, Severity
from app.extensions import db
from app.models import AuditEvent, Clarification, Concern, Document, OutboxEmail
from tests.factories import login, make_provider, make_user
from tests.factories_evaluation import ctx_for, submitted_application


def people(dps):
    """Amira (a provider's administrator) and Ben (another provider's), an
    evaluator, and something each of them did or wrote."""
    application = submitted_application(dps, name="Brightwater Fostering")
    amira = db.session.get(type(application.provider.users[0]), application.submitted_by_id)
    amira.email = "amira@brightwater.example"
    application.provider.contact_email = "Amira@Brightwater.example"
    ben = make_user(Role.PROVIDER_ADMIN, make_provider(), email="ben@oakfield.example",
                    full_name="Ben Okafor")
    evaluator = make_user(Role.EVALUATOR, email="eve@newham.example", full_name="Eve Evaluator",
                          invited_by_id=None)
    amira.invited_by_id = evaluator.id
    db.session.add(Clarification(application_id=application.id, asked_by_id=evaluator.id,
                                 question="Please confirm your staffing ratio.",
                                 answer="One carer for every two children, always.",
                                 answered_by_id=amira.id))
    db.session.add(Concern(provider_id=application.provider_id,
                           category=ConcernCategory.QUALITY_OF_CARE, severity=Severity.MEDIUM,
                           description="Eve's note about missed visits.",
                           raised_by_id=evaluator.id))
    audit.record(ctx_for(ben), "ben.did.something", "thing", 1, reason="Ben's own reason")
    db.session.add_all([
        OutboxEmail(to="AMIRA@brightwater.example", subject="For Amira", body="Dear Amira",
                    template="t"),
        OutboxEmail(to="ben@oakfield.example", subject="For Ben", body="Dear Ben", template="t"),
    ])
    db.session.commit()
    return amira, ben, evaluator, application


def download(client):
    r = client.post("/account/your-data/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Disposition"] == 'attachment; filename="your-data-dps-portal.json"'
    assert r.headers["Cache-Control"] == "private, no-store"
    return r.get_data(as_text=True), json.loads(r.data)


def test_the_account_page_links_to_your_data(client):
    user = make_user(Role.PROVIDER_USER, make_provider())
    login(client, user)
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/account/your-data/"' in page and "Download your data" in page
    r = client.get("/account/your-data/")
    assert r.status_code == 200
    assert "Download your data" in r.get_data(as_text=True)


def test_a_provider_gets_everything_held_about_them_and_nothing_else(client, dps):
    amira, ben, evaluator, application = people(dps)
    login(client, amira)
    text, data = download(client)

    account = data["account"]
    assert account["email"] == "amira@brightwater.example"
    assert account["full_name"] == amira.full_name
    assert account["role"] == "Provider administrator"
    assert account["organisation"] == application.provider.display_name
    assert account["invited_by"] == {"full_name": "Eve Evaluator", "email": "eve@newham.example"}
    assert data["organisation_contact"]["contact_email"] == "Amira@Brightwater.example"

    actions = [e["action"] for e in data["audit_events"]]
    assert "application.submitted" in actions
    assert actions[-1] == "account.personal_data_exported"
    assert data["clarification_answers_given"] == [{
        "application_id": application.id, "question": "Please confirm your staffing ratio.",
        "answered_at": None, "answer": "One carer for every two children, always."}]
    assert data["clarification_questions_asked"] == []
    assert data["concerns_raised"] == []
    assert {d["kind"] for d in data["documents_uploaded"]} >= {DocumentKind.OFSTED_CERTIFICATE.value}
    assert [e["subject"] for e in data["emails_sent_to_you"]] == ["For Amira"]

    # Nobody else's data, and no secret.
    for other in ("ben@oakfield.example", "Ben Okafor", "Ben's own reason", "Dear Ben",
                  "Eve's note"):
        assert other not in text
    assert amira.password_hash not in text
    assert "password" not in json.dumps(account) and "totp" not in text and "scrypt" not in text


def test_staff_get_the_questions_and_concerns_they_wrote(client, dps):
    amira, ben, evaluator, application = people(dps)
    login(client, evaluator)
    text, data = download(client)
    assert data["account"]["role"] == "Evaluator"
    assert data["account"]["organisation"] is None
    assert [q["question"] for q in data["clarification_questions_asked"]] == [
        "Please confirm your staffing ratio."]
    assert [c["description"] for c in data["concerns_raised"]] == [
        "Eve's note about missed visits."]
    assert data["emails_sent_to_you"] == [] and data["organisation_contact"] is None
    # The provider's answer is the provider's, not the evaluator's.
    assert "Dear Amira" not in text and "One carer for every two children" not in text


def test_each_download_is_audited(client):
    user = make_user(Role.PROVIDER_USER, make_provider())
    login(client, user)
    download(client)
    download(client)
    events = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "account.personal_data_exported")).scalars().all()
    assert [(e.actor_id, e.subject_id) for e in events] == [(user.id, user.id)] * 2


def test_looking_at_the_page_downloads_nothing_and_needs_signing_in(client):
    r = client.get("/account/your-data/")
    assert r.status_code == 302 and "/sign-in" in r.headers["Location"]
    assert client.post("/account/your-data/").status_code == 302
    user = make_user(Role.PROVIDER_USER, make_provider())
    login(client, user)
    client.get("/account/your-data/")
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "account.personal_data_exported")).scalar() == 0


def test_the_command_exports_one_person_by_email(app_ctx, dps):
    amira, ben, evaluator, application = people(dps)
    runner = app_ctx.test_cli_runner()
    result = runner.invoke(args=["export-personal-data", "AMIRA@brightwater.example"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["account"]["email"] == "amira@brightwater.example"
    assert [e["subject"] for e in data["emails_sent_to_you"]] == ["For Amira"]
    assert "Dear Ben" not in result.output

    result = runner.invoke(args=["export-personal-data", "nobody@example.com"])
    assert result.exit_code == 1 and "No user has the email address" in result.output


def test_documents_uploaded_are_listed_by_name_not_content(client):
    provider = make_provider()
    user = make_user(Role.PROVIDER_ADMIN, provider)
    db.session.add(Document(provider_id=provider.id, kind=DocumentKind.ACCOUNTS,
                            storage_key="providers/x/abc", original_filename="Accounts 2025.pdf",
                            content_type="application/pdf", size_bytes=1234, sha256="0" * 64,
                            uploaded_by_id=user.id))
    db.session.commit()
    login(client, user)
    text, data = download(client)
    [document] = data["documents_uploaded"]
    assert document["original_filename"] == "Accounts 2025.pdf"
    assert document["size_bytes"] == 1234 and "storage_key" not in document
    assert "providers/x/abc" not in text
