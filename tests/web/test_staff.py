"""The staff dashboard (the evaluation queue) and the application hub: what
staff see, never drafts, htmx fragments, pagination, and who may look."""
import re
from datetime import timedelta

import pytest

from app.domain import applications as rules
from app.domain.audit import AuditContext
from app.domain.states import ApplicationStatus, Role
from app.extensions import db
from app.filters import uk_date
from app.models import Application, ApplicationLot, Document, utcnow
from tests.factories import login, make_provider, make_user
from tests.factories_evaluation import in_evaluation, make_staff, submitted_application

HX = {"HX-Request": "true", "HX-Target": "queue-results"}


@pytest.fixture
def evaluator(client, dps):
    user = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    login(client, user)
    return user


def _row(html: str, reference: str) -> str:
    at = html.index(reference)
    return html[html.rindex("<tr", 0, at):html.index("</tr>", at)]


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>|\s+", " ", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_queue_lists_every_application_received_newest_first(client, dps, evaluator):
    older = submitted_application(dps, name="Brightwater Fostering", submitted_days_ago=6)
    newer = in_evaluation(dps, evaluator, name="Evergreen Foster Care", lots=(1, 2))
    draft_provider = make_provider(trading_name="Harbour Draft")
    draft_user = make_user(provider=draft_provider)
    rules.start_application(AuditContext(), draft_provider, draft_user, [dps.lots[2]],
                            rules.today())
    db.session.commit()
    r = client.get("/staff/")
    html = r.data.decode()
    assert r.status_code == 200
    assert "<title>Evaluation queue" in html
    assert re.search(r">Submitted</a>: <strong>1</strong>", html)
    assert re.search(r">In evaluation</a>: <strong>1</strong>", html)
    assert "Harbour Draft" not in html and ">Draft<" not in html
    assert "Showing 1 to 2 of 2 applications" in html
    assert html.index(newer.reference) < html.index(older.reference)
    assert _cells(_row(html, older.reference)) == [
        older.reference, "Brightwater Fostering", "Lot 1", uk_date(older.submitted_at), "6",
        "Submitted", "Unassigned"]
    assert _cells(_row(html, newer.reference))[2] == "Lot 1, Lot 2"
    assert _cells(_row(html, newer.reference))[-1] == "Tom Okafor (you)"
    assert f'href="/staff/applications/{older.id}"' in html


def test_the_queue_paginates_25_a_page_keeping_the_filters(client, dps, evaluator):
    # Only the listing is under test here: rows stand in for 27 submissions.
    provider = make_provider()
    for n in range(27):
        application = Application(provider_id=provider.id, dps_id=dps.id,
                                  status=ApplicationStatus.SUBMITTED,
                                  submitted_at=utcnow() - timedelta(hours=n),
                                  reference=f"DPS-2026-{900000 + n:06d}")
        application.lots.append(ApplicationLot(lot_id=dps.lots[n % 2].id))
        db.session.add(application)
    db.session.commit()
    html = client.get("/staff/").data.decode()
    assert html.count('href="/staff/applications/') == 25
    assert "govuk-pagination" in html and 'href="/staff/?page=2"' in html
    assert client.get("/staff/?page=2").data.decode().count('href="/staff/applications/') == 2

    html = client.get(f"/staff/?lot={dps.lots[0].id}&status=submitted&sort=provider").data.decode()
    assert "Showing 1 to 14 of 14 applications matching your filters" in html
    assert "govuk-pagination" not in html
    html = client.get("/staff/?status=submitted&order=asc").data.decode()
    assert 'href="/staff/?status=submitted&amp;order=asc&amp;page=2"' in html
    # An out-of-range page shows the last page rather than an error.
    r = client.get("/staff/?page=99")
    assert r.status_code == 200 and "Showing 26 to 27 of 27" in r.data.decode()


def test_htmx_gets_only_the_results_and_a_plain_get_the_whole_page(client, dps, evaluator):
    application = submitted_application(dps)
    r = client.get("/staff/?status=submitted", headers=HX)
    fragment = r.data.decode().strip()
    assert r.status_code == 200
    assert fragment.startswith('<div id="queue-results">') and "<html" not in fragment
    assert application.reference in fragment and "<form" not in fragment
    page = client.get("/staff/?status=submitted").data.decode()
    assert "<html" in page and '<div id="queue-results">' in page
    # The page's form works without JavaScript and is enhanced by htmx.
    form = page[page.index('<form method="get"'):page.index("</form>")]
    assert 'action="/staff/"' in form and 'hx-get="/staff/"' in form
    assert 'hx-target="#queue-results"' in form and 'hx-push-url="true"' in form
    # Another target gets the full page (the fragment is only for its own id).
    other = client.get("/staff/", headers={"HX-Request": "true", "HX-Target": "elsewhere"})
    assert "<html" in other.data.decode()


def test_the_hub_shows_the_summary_with_document_links(client, dps, evaluator):
    application = submitted_application(dps)
    r = client.get(f"/staff/applications/{application.id}")
    html = r.data.decode()
    assert r.status_code == 200
    assert application.reference in html and "£846.00 a week" in html
    document = Document.query.filter_by(provider_id=application.provider_id).first()
    assert f'href="/evidence/{document.id}/download"' in html
    assert f"/applications/{application.id}/prices" not in html  # no Change links
    assert "Unassigned" in html and "Take this application" in html
    assert f'href="/staff/applications/{application.id}/history"' in html


def test_staff_never_see_drafts(client, dps, evaluator):
    provider = make_provider()
    user = make_user(provider=provider)
    draft = rules.start_application(AuditContext(), provider, user, [dps.lots[0]], rules.today())
    db.session.commit()
    assert client.get(f"/staff/applications/{draft.id}").status_code == 404
    assert client.get(f"/staff/applications/{draft.id}/history").status_code == 404
    assert client.get("/staff/applications/99999").status_code == 404


def test_providers_cannot_see_the_staff_pages(client, dps):
    application = submitted_application(dps)
    login(client, make_user(provider=application.provider))
    assert client.get("/staff/").status_code == 403
    assert client.get(f"/staff/applications/{application.id}").status_code == 403
    assert client.get(f"/staff/applications/{application.id}/history").status_code == 403


def test_member_officers_get_a_page_of_their_own_and_no_applications(client, dps):
    application = submitted_application(dps)
    login(client, make_staff(Role.MEMBER_OFFICER))
    r = client.get("/staff/")
    html = r.data.decode()
    assert r.status_code == 200
    assert "evaluated and decided by London Borough of Newham" in html
    assert '<a class="govuk-link" href="/account">Manage your account</a>' in html
    assert application.reference not in html and "queue-results" not in html
    assert client.get(f"/staff/applications/{application.id}").status_code == 404
    assert client.get(f"/staff/applications/{application.id}/history").status_code == 404
    assert client.post(f"/staff/applications/{application.id}/take",
                       data={"version": application.version}).status_code == 403
