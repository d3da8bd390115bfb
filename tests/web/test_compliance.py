"""The compliance pages: dashboard figures and the lists behind them, starting
jobs and following their progress, the Ofsted upload's checks, verifying a
renewal, and who may see any of it."""
import io
import re
from pathlib import Path
from datetime import date, datetime, timedelta

import pytest
import time_machine

from app.domain.reference import OfstedJudgement as J, SettingType
from app.domain.states import (ComplianceStatus, ConcernCategory, DocumentStatus, JobStatus,
                               MembershipStatus, Role, Severity)
from app.extensions import db
from app.filters import LONDON
from app.models import Concern, JobRun, Membership
from tests.factories import login, make_provider, make_setting, outbox
from tests.factories_evaluation import make_staff, quick_user
from tests.unit.test_compliance_rules import EXPIRES, approved_provider, renew

TODAY = EXPIRES - timedelta(days=20)  # the public liability expires in 20 days
HX = {"HX-Request": "true", "HX-Target": "job-status"}
CSV_HEADER = ("URN,Setting name,Provider type,Latest overall effectiveness judgement,"
              "Inspection date\n")


@pytest.fixture
def frozen():
    with time_machine.travel(datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=LONDON),
                             tick=False):
        yield


@pytest.fixture
def manager(client, dps, frozen):
    user = make_staff(Role.MANAGER)
    login(client, user)
    return user


def upload(client, data: bytes, name: str = "ofsted.csv"):
    return client.post("/staff/compliance/jobs/ofsted-import",
                       data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


@pytest.mark.parametrize("role,status", [(Role.MEMBER_OFFICER, 403), (Role.PROVIDER_ADMIN, 403),
                                         (Role.EVALUATOR, 200), (Role.ADMIN, 200)])
def test_only_commissioners_see_compliance(client, dps, role, status):
    provider = make_provider() if role.is_provider else None
    login(client, quick_user(role, provider))
    for url in ("/staff/compliance/", "/staff/compliance/jobs",
                "/staff/compliance/list/non-compliant"):
        assert client.get(url).status_code == status
    if status == 403:
        assert client.post("/staff/compliance/jobs/expiry-check").status_code == 403
        assert JobRun.query.count() == 0


def test_dashboard_counts_link_to_the_lists_behind_them(client, manager, dps):
    lot = dps.lots[0]
    soon, _, _ = approved_provider([lot])
    suspended, _, _ = approved_provider([lot], expires=date(2027, 1, 1))
    expired, _, _ = approved_provider([lot], expires=TODAY - timedelta(days=2))
    Membership.query.filter_by(provider_id=suspended.id).one().status = MembershipStatus.SUSPENDED
    m = Membership.query.filter_by(provider_id=expired.id).one()
    m.compliance = ComplianceStatus.NON_COMPLIANT
    m.non_compliance_reason = "Expired evidence: Public liability insurance expired"
    db.session.add(Concern(provider_id=soon.id, category=ConcernCategory.COMPLAINT,
                           severity=Severity.LOW, description="Late reports"))
    db.session.commit()

    page = client.get("/staff/compliance/")
    assert page.status_code == 200
    body = text(page)
    for label, n in [("Active memberships", 2), ("Suspended memberships", 1),
                     ("Non-compliant memberships", 1), ("Insurance expiring within 30 days", 1),
                     ("Open concerns", 1)]:
        assert f"{label} {n}" in body
    html = page.get_data(as_text=True)
    for kind in ("active", "suspended", "non-compliant", "expiring"):
        assert f'href="/staff/compliance/list/{kind}"' in html
    assert 'href="/concerns/?status=open"' in html

    listing = client.get("/staff/compliance/list/non-compliant")
    assert expired.display_name in text(listing)
    assert soon.display_name not in text(listing)
    assert f'href="/staff/providers/{expired.id}"' in listing.get_data(as_text=True)
    expiring = text(client.get("/staff/compliance/list/expiring"))
    assert soon.display_name in expiring and "30 September 2025" in expiring
    assert "in 20 days" in expiring
    assert client.get("/staff/compliance/list/everything").status_code == 404


def test_running_the_expiry_check_from_the_portal(client, manager, dps):
    provider, admin, _ = approved_provider([dps.lots[0]])
    r = client.post("/staff/compliance/jobs/expiry-check")
    assert r.status_code == 303
    job = JobRun.query.one()
    assert r.headers["Location"] == f"/staff/compliance/jobs/{job.id}"
    # In-process (no REDIS_URL) the job ran during the request.
    assert job.status is JobStatus.FINISHED and job.run_date == TODAY
    assert job.started_by_id == manager.id and job.done == job.total == 1
    assert [e.template for e in outbox(admin.email)] == ["expiry_reminder"]

    page = client.get(r.headers["Location"])
    body = text(page)
    assert "Finished" in body and "Reminders sent 1" in body and "30-day reminder" in body
    assert 'hx-trigger="every 2s"' not in page.get_data(as_text=True)
    assert "Evidence expiry check" in text(client.get("/staff/compliance/jobs"))


def test_a_running_job_polls_itself_and_the_poll_returns_only_the_fragment(client, manager):
    job = JobRun(kind="ofsted_import", status=JobStatus.RUNNING, done=200, total=800,
                 input_name="mi.csv", started_by_id=manager.id)
    db.session.add(job)
    db.session.commit()
    url = f"/staff/compliance/jobs/{job.id}"

    page = client.get(url)
    html = page.get_data(as_text=True)
    assert "<html" in html and "Ofsted import: mi.csv" in html
    assert f'hx-get="{url}"' in html and 'hx-trigger="every 2s"' in html
    assert "200 of 800 rows read (25%)" in text(page)
    assert f'href="{url}">Refresh' in html

    fragment = client.get(url, headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="job-status"')
    assert 'hx-trigger="every 2s"' in body

    job.status, job.done = JobStatus.FINISHED, 800
    job.report = {"file": "mi.csv", "rows": 800, "updated": 0, "unchanged": 800,
                  "downgrades": [], "unknown_urns": [], "malformed": []}
    db.session.commit()
    done = client.get(url, headers=HX).get_data(as_text=True)
    assert "hx-get" not in done and "Refresh" not in done and "Rows read" in done


def test_importing_ofsted_data_from_the_portal(client, manager, dps, app):
    provider, _, _ = approved_provider([dps.lots[1]])
    home = make_setting(provider, setting_type=SettingType.CHILDRENS_HOME, ofsted_urn="SC700001",
                        name="Birch House", ofsted_judgement=J.GOOD,
                        ofsted_judgement_date=date(2024, 1, 10))
    data = (CSV_HEADER + "SC700001,Birch House,Children's home,Requires improvement to be good,"
            "03/06/2025\nSC799999,Elsewhere,Children's home,Good,03/06/2025\n"
            "SC700001,Birch House,Children's home,Superb,03/06/2025\n").encode()
    r = upload(client, data, "Ofsted MI June.csv")
    assert r.status_code == 303
    job = JobRun.query.one()
    assert job.input_name == "Ofsted MI June.csv" and job.input_key.startswith("imports/")
    assert app.extensions["storage"].exists(job.input_key)
    assert job.status is JobStatus.FINISHED
    [concern] = Concern.query.all()
    assert concern.setting_id == home.id and concern.raised_by_id == manager.id

    page = client.get(r.headers["Location"])
    html, body = page.get_data(as_text=True), text(page)
    assert "Settings updated 1" in body and "Unknown URNs 1" in body
    assert f'href="/concerns/{concern.id}"' in html
    assert "SC799999" in body and "Elsewhere" in body
    assert "Unknown judgement “Superb”" in body

    csv_file = client.get(f"/staff/compliance/jobs/{job.id}/problems.csv")
    assert csv_file.mimetype == "text/csv"
    assert csv_file.get_data(as_text=True).splitlines() == [
        "Row,URN,Problem,Detail", "3,SC799999,Unknown URN,Elsewhere",
        "4,SC700001,Malformed row,Unknown judgement “Superb”"]


@pytest.mark.parametrize("data,name,message", [
    (None, "", "Select a CSV file"),
    (b"%PDF-1.4\n%%EOF\n", "ofsted.csv", "The selected file must be a CSV file"),
    (b"<html><body>URN</body></html>", "ofsted.csv", "The selected file must be a CSV file"),
    (CSV_HEADER.encode(), "ofsted.xlsx", "The selected file must be a CSV file"),
    (b"", "ofsted.csv", "The selected file is empty"),
    (b"Name,Rating\nOak,Good\n", "ofsted.csv", "not in the layout of Ofsted"),
])
def test_a_bad_file_is_refused_with_an_error_summary(client, manager, app, data, name, message):
    form = {} if data is None else {"file": (io.BytesIO(data), name)}
    r = client.post("/staff/compliance/jobs/ofsted-import", data=form,
                    content_type="multipart/form-data")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "govuk-error-summary" in html and 'href="#file"' in html
    assert message in html
    assert JobRun.query.count() == 0


def test_a_file_over_the_size_limit_is_refused_and_not_kept(client, manager, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 200)
    root = Path(app.config["STORAGE_DIR"])
    before = set(root.rglob("*"))
    r = upload(client, (CSV_HEADER + "SC1,A,B,Good,01/01/2025\n" * 20).encode())
    assert r.status_code == 400
    assert "The selected file must be smaller than" in r.get_data(as_text=True)
    assert JobRun.query.count() == 0
    assert {p for p in set(root.rglob("*")) - before if p.is_file()} == set()


def test_verifying_a_renewal_restores_compliance(client, manager, dps):
    lot = dps.lots[0]
    provider, admin, _ = approved_provider([lot], expires=TODAY - timedelta(days=3))
    client.post("/staff/compliance/jobs/expiry-check")
    assert Membership.query.one().compliance is ComplianceStatus.NON_COMPLIANT
    renewal = renew(provider)

    listing = client.get("/staff/compliance/list/renewals")
    assert f'action="/staff/compliance/documents/{renewal.id}/verify"' in listing.get_data(
        as_text=True)
    r = client.post(f"/staff/compliance/documents/{renewal.id}/verify")
    assert r.status_code == 303
    db.session.expire_all()
    assert renewal.status is DocumentStatus.VERIFIED
    assert Membership.query.one().compliance is ComplianceStatus.COMPLIANT
    assert "compliance_restored" in [e.template for e in outbox(admin.email)]
    banner = text(client.get(r.headers["Location"]))
    assert "Compliant again: Lot 1: Independent fostering" in banner

    again = client.post(f"/staff/compliance/documents/{renewal.id}/verify")
    assert again.status_code == 409 and "already been checked" in again.get_data(as_text=True)


def test_administrators_cannot_verify(client, dps, frozen):
    provider, _, _ = approved_provider([dps.lots[0]])
    renewal = renew(provider)
    login(client, make_staff(Role.ADMIN))
    assert client.post(f"/staff/compliance/documents/{renewal.id}/verify").status_code == 403
    assert renewal.status is DocumentStatus.AWAITING_CHECK


def test_a_job_that_cannot_be_queued_is_shown_as_failed(client, manager, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is down")
    monkeypatch.setattr("app.jobs.compliance.enqueue", unreachable)
    r = client.post("/staff/compliance/jobs/expiry-check")
    assert r.status_code == 303
    job = JobRun.query.one()
    assert job.status is JobStatus.FAILED
    assert "could not be queued" in text(client.get(r.headers["Location"]))
