"""Staff see the applications received (never drafts), newest first, and a
read-only view of each with links to its documents."""
from datetime import timedelta

import pytest

from app.demo import add_demo_evidence, fill_application
from app.domain import applications as rules
from app.domain.audit import AuditContext
from app.domain.states import ApplicationStatus, Role
from app.extensions import db
from app.models import Application, ApplicationLot, Document, utcnow
from tests.factories import login, make_provider, make_setting, make_user


def submitted_application(dps, name="Brightwater Fostering"):
    provider = make_provider(trading_name=name)
    user = make_user(provider=provider)
    setting = make_setting(provider)
    add_demo_evidence(provider, [setting], user, "complete", rules.today())
    ctx = AuditContext(actor_id=user.id, actor_role=user.role.value)
    application = rules.start_application(ctx, provider, user, [dps.lots[0]], rules.today())
    fill_application(ctx, application, user, [setting], complete=True)
    documents = Document.query.filter_by(provider_id=provider.id).all()
    rules.submit(ctx, application, user, documents, rules.today(), full_name="Amira Khan")
    db.session.commit()
    return application


@pytest.fixture
def evaluator(client, dps):
    user = make_user(role=Role.EVALUATOR)
    login(client, user)
    return user


def test_dashboard_counts_and_lists_received_applications(client, dps, evaluator):
    older = submitted_application(dps, "Brightwater Fostering")
    older.submitted_at = utcnow() - timedelta(days=6)
    newer = submitted_application(dps, "Evergreen Foster Care")
    draft_provider = make_provider(trading_name="Harbour Draft")
    draft_user = make_user(provider=draft_provider)
    rules.start_application(AuditContext(), draft_provider, draft_user, [dps.lots[2]],
                            rules.today())
    db.session.commit()
    r = client.get("/staff/")
    html = r.data.decode()
    assert r.status_code == 200
    assert "Submitted: <strong>2</strong>" in html
    assert "Draft" not in html and "Harbour Draft" not in html
    assert html.index(newer.reference) < html.index(older.reference)
    assert "Evergreen Foster Care" in html and "Lot 1" in html
    row = html[html.index(older.reference):]
    assert ">6</td>" in row.split("</tr>")[0].replace(" ", "").replace("\n", "")
    assert f'href="/staff/applications/{older.id}"' in html


def test_dashboard_paginates_25_a_page(client, dps, evaluator):
    # Only the listing is under test here: rows stand in for 26 submissions.
    provider = make_provider()
    for n in range(26):
        application = Application(provider_id=provider.id, dps_id=dps.id,
                                  status=ApplicationStatus.SUBMITTED,
                                  submitted_at=utcnow() - timedelta(hours=n),
                                  reference=f"DPS-2026-{900000 + n:06d}")
        application.lots.append(ApplicationLot(lot_id=dps.lots[0].id))
        db.session.add(application)
    db.session.commit()
    html = client.get("/staff/").data.decode()
    assert html.count('href="/staff/applications/') == 25
    assert "govuk-pagination" in html and 'href="/staff/?page=2"' in html
    html = client.get("/staff/?page=2").data.decode()
    assert html.count('href="/staff/applications/') == 1
    # An out-of-range page shows the last page rather than an error.
    assert client.get("/staff/?page=99").status_code == 200


def test_dashboard_table_as_htmx_fragment(client, dps, evaluator):
    submitted_application(dps)
    r = client.get("/staff/", headers={"HX-Request": "true", "HX-Target": "received-applications"})
    html = r.data.decode().strip()
    assert html.startswith('<div id="received-applications">') and "<html" not in html


def test_staff_view_of_an_application_with_document_links(client, dps, evaluator):
    application = submitted_application(dps)
    r = client.get(f"/staff/applications/{application.id}")
    html = r.data.decode()
    assert r.status_code == 200
    assert application.reference in html and "£846.00 a week" in html
    assert "Amira Khan" in html
    document = Document.query.filter_by(provider_id=application.provider_id).first()
    assert f'href="/evidence/{document.id}/download"' in html
    assert f"/applications/{application.id}/prices" not in html  # no Change links


def test_staff_never_see_drafts(client, dps, evaluator):
    provider = make_provider()
    user = make_user(provider=provider)
    draft = rules.start_application(AuditContext(), provider, user, [dps.lots[0]], rules.today())
    db.session.commit()
    assert client.get(f"/staff/applications/{draft.id}").status_code == 404
    assert client.get("/staff/applications/99999").status_code == 404


def test_providers_cannot_see_the_staff_pages(client, dps):
    application = submitted_application(dps)
    login(client, make_user(provider=application.provider))
    assert client.get("/staff/").status_code == 403
    assert client.get(f"/staff/applications/{application.id}").status_code == 403
