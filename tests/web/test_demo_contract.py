"""The demo data tells issue 4's "Done when" stories: a member officer finds
the cheapest compliant home near a postcode, a suspension hides a provider,
an expiring insurance produces reminders and then non-compliance, and the
sample Ofsted file shows a downgrade and the rows it cannot use."""
from datetime import timedelta
from pathlib import Path

import pytest

from app.demo import DEMO_PASSWORD, load_demo_data
from app.domain import audit, compliance, directory, geo, removals, suspensions
from app.domain.applications import today
from app.domain.audit import verify_chain
from app.domain.authorities import visible_lot_ids
from app.domain.ofsted_import import run_ofsted_import
from app.domain.reference import OfstedJudgement
from app.domain.states import (ComplianceStatus, ConcernCategory, ConcernStatus, MembershipStatus,
                               RemovalStatus, Role, SuspensionReason)
from app.extensions import db
from app.models import (Concern, Lot, Membership, Provider, Removal, Setting, Suspension, User)
from tests.factories import login

SAMPLE = Path(__file__).resolve().parents[2] / "app" / "data" / "ofsted-sample.csv"
SINGLE_BED = "Residential (single-bed home)"


@pytest.fixture
def demo(app_ctx):
    load_demo_data()
    return app_ctx


def _user(email: str) -> User:
    return User.query.filter_by(email=email).one()


def _provider(name: str) -> Provider:
    return Provider.query.filter_by(trading_name=name).one()


def _lot(number: int) -> Lot:
    return Lot.query.filter_by(number=number).one()


def _search(user: User, placement_type: str = SINGLE_BED, *, show_suspended=False):
    on = today()
    lot = _lot(2)
    pt = next(p for p in lot.placement_types if p.name == placement_type)
    access = directory.access_for(visible_lot_ids(user, on),
                                  commissioner=user.role is not Role.MEMBER_OFFICER)
    return directory.search(directory.Criteria(
        lot_id=lot.id, placement_type_id=pt.id, near=geo.locate("E15"), radius_miles=20,
        sort=directory.SORT_PRICE, show_suspended=show_suspended), access, on).rows


def _names(rows) -> list[str]:
    return [r.provider.display_name for r in rows]


def _ctx(user: User) -> audit.AuditContext:
    return audit.AuditContext(actor_id=user.id, actor_role=user.role.value)


def test_officer_finds_the_cheapest_compliant_home_near_e15(demo):
    officer = _user("officer@redbridge.example")
    rows = _search(officer)
    prices = [r.price for r in rows]
    assert len(rows) >= 3 and None not in prices
    assert prices == sorted(prices) and len(set(prices)) == len(prices)
    assert all(r.compliant and not r.suspended and r.distance_miles <= 20 for r in rows)
    assert rows[0].provider.display_name == "Hawthorn Children's Homes"
    # Stonebridge (suspended for safeguarding) is never offered to an officer...
    assert "Stonebridge Care" not in _names(rows)
    # ...and a commissioner who asks sees it marked, after every available home.
    staff_rows = _search(_user("manager@newham.example"), show_suspended=True)
    assert staff_rows[-1].provider.display_name == "Stonebridge Care"
    assert staff_rows[-1].suspended
    # Fernlea has no school on site: unpriced, so last, for that placement type.
    on_site = _search(officer, "Residential with education on site")
    assert on_site[-1].provider.display_name == "Fernlea Children's Services"
    assert on_site[-1].price is None
    # Homes differ in whom they take: boys only, girls only, ages, specialisms.
    settings = {s.name: s for s in Setting.query.all()}
    assert settings["Fernlea Children's Services"].gender.value == "male"
    assert settings["Heron Lodge Care"].gender.value == "female"
    assert settings["Maple Grove Homes"].age_max == 15
    assert "cse_risk" in settings["Heron Lodge Care"].specialisms


def test_the_directory_page_shows_the_search_to_the_officer(client, demo):
    login(client, _user("officer@redbridge.example"))
    lot = _lot(2)
    pt = next(p for p in lot.placement_types if p.name == SINGLE_BED)
    html = client.get(f"/directory/?lot={lot.id}&placement_type={pt.id}&postcode=E15"
                      "&radius=20&sort=price").get_data(as_text=True)
    assert "Hawthorn Children" in html and "Heron Lodge Care" in html
    assert "Stonebridge Care" not in html


def test_a_commissioner_suspends_the_cheapest_and_it_disappears(demo):
    manager = _user("manager@newham.example")
    hawthorn = _provider("Hawthorn Children's Homes")
    suspensions.suspend(_ctx(manager), hawthorn, lot=_lot(2), reason=SuspensionReason.OTHER,
                        description="Trying the demo", starts_on=today())
    db.session.commit()
    rows = _search(_user("officer@redbridge.example"))
    assert "Hawthorn Children's Homes" not in _names(rows)
    assert rows[0].provider.display_name == "Heron Lodge Care"


def test_the_first_expiry_check_reminds_one_provider_and_finds_one_lapsed(demo):
    on = today()
    outbox = []
    report = compliance.run_expiry_check(audit.SYSTEM, on, outbox=outbox)
    db.session.commit()
    assert [(r["provider_name"], r["kind"], r["days_before"]) for r in report["reminders"]] == [
        ("Redwood Children's Homes", "Public liability insurance", 30)]
    reminders = [o for o in outbox if o.template == "expiry_reminder"]
    assert sorted(o.to for o in reminders) == ["admin@redwood-childrens-homes.example",
                                               "office@redwood-childrens-homes.example"]
    assert {o.context["days"] for o in reminders} == {20}
    assert [(m["provider_name"], m["lot"]) for m in report["non_compliant"]] == [
        ("Maple Grove Homes", _lot(2).title)]
    assert report["suspended"] == [] and report["restored"] == []
    staff_told = sorted(o.to for o in outbox if o.template == "compliance_non_compliant")
    assert staff_told == ["manager2@newham.example", "manager@newham.example"]
    maple = Membership.query.filter_by(provider_id=_provider("Maple Grove Homes").id).one()
    assert maple.compliance is ComplianceStatus.NON_COMPLIANT
    assert Membership.query.filter_by(compliance=ComplianceStatus.NON_COMPLIANT).count() == 1
    # The officer's search now ranks Maple Grove after every compliant home.
    rows = _search(_user("officer@redbridge.example"))
    assert rows[-1].provider.display_name == "Maple Grove Homes" and not rows[-1].compliant
    # Safe to run twice: nothing more to send or change.
    again = []
    second = compliance.run_expiry_check(audit.SYSTEM, on, outbox=again)
    assert again == [] and second["reminders"] == [] and second["non_compliant"] == []


def test_the_expiring_insurance_later_reminds_again_then_lapses(demo):
    on = today()
    compliance.run_expiry_check(audit.SYSTEM, on)
    week_before = compliance.run_expiry_check(audit.SYSTEM, on + timedelta(days=14))
    assert [(r["provider_name"], r["days_before"]) for r in week_before["reminders"]] == [
        ("Redwood Children's Homes", 7)]
    # Maple Grove's 14-day grace period on Lot 2 is over: suspended automatically.
    assert [s["provider_name"] for s in week_before["suspended"]] == ["Maple Grove Homes"]
    lapsed = compliance.run_expiry_check(audit.SYSTEM, on + timedelta(days=21))
    assert [m["provider_name"] for m in lapsed["non_compliant"]] == ["Redwood Children's Homes"]
    db.session.commit()
    assert verify_chain()[1] == []


def test_the_ofsted_sample_downgrades_one_home_and_reports_bad_rows(demo):
    report = run_ofsted_import(
        audit.SYSTEM, lambda: SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True),
        source_name=SAMPLE.name)
    db.session.commit()
    assert [(d["setting_name"], d["before"], d["after"]) for d in report["downgrades"]] == [
        ("Ashdown Residential Care", OfstedJudgement.GOOD.label,
         OfstedJudgement.REQUIRES_IMPROVEMENT.label)]
    assert [u["urn"] for u in report["unknown_urns"]] == ["SC699001"]
    assert len(report["malformed"]) == 1 and "31/02/2025" in report["malformed"][0]["reason"]
    assert report["updated"] == 1 and report["unchanged"] == 4
    ashdown = Setting.query.filter_by(name="Ashdown Residential Care").one()
    assert ashdown.ofsted_judgement is OfstedJudgement.REQUIRES_IMPROVEMENT
    assert Concern.query.filter_by(provider_id=ashdown.provider_id,
                                   category=ConcernCategory.OFSTED).count() == 1


def test_the_ofsted_sample_uploads_at_compliance_jobs(client, demo):
    login(client, _user("manager@newham.example"))
    with SAMPLE.open("rb") as stream:
        r = client.post("/staff/compliance/jobs/ofsted-import",
                        data={"file": (stream, SAMPLE.name)}, content_type="multipart/form-data")
    assert r.status_code == 303
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Ashdown Residential Care" in html and "SC699001" in html and "31/02/2025" in html


def test_contract_management_samples(client, demo):
    manager, manager2 = _user("manager@newham.example"), _user("manager2@newham.example")
    assert manager2.role is Role.MANAGER
    stonebridge = _provider("Stonebridge Care")
    current = Suspension.query.filter_by(provider_id=stonebridge.id).one()
    assert current.reason is SuspensionReason.SAFEGUARDING and current.lifted_at is None
    assert current.lot_id == _lot(2).id and current.remedy and current.review_on > today()
    alert = db.session.get(Concern, current.concern_id)
    assert alert.category is ConcernCategory.SAFEGUARDING and alert.status is ConcernStatus.OPEN
    assert not alert.shared_with_provider
    assert Membership.query.filter_by(provider_id=stonebridge.id).one().status \
        is MembershipStatus.SUSPENDED
    lifted = Suspension.query.filter(Suspension.lifted_at.is_not(None)).one()
    assert lifted.lift_note and lifted.provider.trading_name == "Kingfisher Foster Care"
    removal = Removal.query.one()
    assert removal.status is RemovalStatus.PENDING and removal.requested_by_id == manager.id
    assert removals.can_decide(removal, manager2) and not removals.can_decide(removal, manager)
    by_category = {c.category: c for c in Concern.query.all()}
    quality = by_category[ConcernCategory.QUALITY_OF_CARE]
    assert quality.status is ConcernStatus.INVESTIGATING
    assert quality.raised_by.email == "officer@redbridge.example"
    complaint = by_category[ConcernCategory.COMPLAINT]
    assert complaint.status is ConcernStatus.CLOSED and complaint.outcome
    checked, bad = verify_chain()
    assert checked > 100 and bad == []
    # The suspended provider signs in to a banner and sees what to put right,
    # but not the safeguarding alert, which was not shared.
    r = client.post("/sign-in", data={"email": "admin@stonebridge-care.example",
                                      "password": DEMO_PASSWORD})
    assert r.status_code == 303
    assert "a suspension" in client.get("/applications/").get_data(as_text=True)
    html = client.get("/suspensions").get_data(as_text=True)
    assert "revised missing-from-care procedure" in html
    assert "linked to exploitation" not in html


def test_the_readme_walkthrough_pages_show_the_demo_stories(client, demo):
    riverbend = _provider("Riverbend Foster Care")
    login(client, _user("manager2@newham.example"))
    html = client.get(f"/staff/providers/{riverbend.id}").get_data(as_text=True)
    assert "Confirm or cancel" in html
    lot1 = _lot(1)
    html = client.get(f"/directory/?lot={lot1.id}").get_data(as_text=True)
    assert "Riverbend Foster Care" in html
    html = client.get("/staff/compliance/").get_data(as_text=True)
    assert "Insurance expiring within 30 days" in html
    login(client, _user("manager@newham.example"))
    html = client.get(f"/staff/providers/{riverbend.id}").get_data(as_text=True)
    assert "Confirm or cancel" not in html and "your removal request" in html
    login(client, _user("officer@havering.example"))
    html = client.get("/concerns/").get_data(as_text=True)
    assert all(name in html for name in ("Heron Lodge Care", "Stonebridge Care",
                                         "Beacon House Care"))
