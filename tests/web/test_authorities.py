"""Administrators manage authorities, access agreements and API tokens; staff
accounts belong to an authority."""
import hashlib
from datetime import date
from decimal import Decimal

import pytest

from app.domain.states import Role
from app.extensions import db
from app.models import AccessAgreement, ApiToken, AuditEvent, Authority, User
from tests.factories import login, make_provider
from tests.factories_evaluation import make_staff, quick_user


@pytest.fixture
def admin(app_ctx):
    return make_staff(Role.ADMIN)


@pytest.fixture
def redbridge(app_ctx):
    authority = Authority(name="London Borough of Redbridge", is_lead=False)
    db.session.add(authority)
    db.session.commit()
    return authority


def lot(dps, number):
    return next(lot for lot in dps.lots if lot.number == number)


def agreement_data(lot_id, fee="3,150", starts=("1", "4", "2025"), ends=("31", "3", "2026")):
    return {"lot_id": str(lot_id), "annual_fee": fee, "starts_on": list(starts),
            "ends_on": list(ends)}


def actions():
    return [e.action for e in AuditEvent.query.order_by(AuditEvent.id)]


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.MANAGER, Role.MEMBER_OFFICER,
                                  Role.PROVIDER_ADMIN])
def test_only_administrators_manage_authorities(client, dps, redbridge, role):
    provider = make_provider() if role.is_provider else None
    login(client, quick_user(role, provider))
    assert client.get("/admin/authorities/").status_code == 403
    assert client.get("/admin/authorities/new").status_code == 403
    assert client.post(f"/admin/authorities/{redbridge.id}/tokens/new",
                       data={"name": "Mine"}).status_code == 403
    assert client.post(f"/admin/authorities/{redbridge.id}/agreements/new",
                       data=agreement_data(lot(dps, 1).id)).status_code == 403
    assert ApiToken.query.count() == 0 and AccessAgreement.query.count() == 0


def test_anonymous_users_are_sent_to_sign_in(client, redbridge):
    r = client.get("/admin/authorities/")
    assert r.status_code == 302 and "/sign-in" in r.headers["Location"]


def test_admin_adds_a_member_authority_and_its_agreement(client, dps, admin):
    login(client, admin)
    assert client.get("/admin/authorities/new").status_code == 200
    r = client.post("/admin/authorities/new",
                    data={"name": "  London Borough of  Havering ", "kind": "member"})
    assert r.status_code == 303
    havering = Authority.query.filter_by(name="London Borough of Havering").one()
    assert havering.is_lead is False

    lot2 = lot(dps, 2)
    assert client.get(f"/admin/authorities/{havering.id}/agreements/new").status_code == 200
    r = client.post(f"/admin/authorities/{havering.id}/agreements/new",
                    data=agreement_data(lot2.id, fee="£3,150", starts=("1", "2", "2024"),
                                        ends=("8", "3", "2030")))
    assert r.status_code == 303
    agreement = AccessAgreement.query.one()
    assert (agreement.lot_id, agreement.annual_fee) == (lot2.id, Decimal("3150.00"))
    assert (agreement.starts_on, agreement.ends_on) == (date(2024, 2, 1), date(2030, 3, 8))
    assert actions() == ["authority.created", "access_agreement.created"]

    html = client.get("/admin/authorities/").get_data(as_text=True)
    assert "London Borough of Havering" in html
    assert "Lot 2: Children&#39;s residential homes" in html
    assert "£3,150.00" in html and "1 February 2024" in html and "8 March 2030" in html
    assert "Current" in html


def test_agreement_dates_and_fee_are_checked_and_input_kept(client, dps, admin, redbridge):
    login(client, admin)
    url = f"/admin/authorities/{redbridge.id}/agreements/new"
    lot1 = lot(dps, 1)
    r = client.post(url, data=agreement_data(lot1.id, fee="three thousand",
                                             starts=("1", "4", "2026"), ends=("31", "3", "2026")))
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "There is a problem" in html
    assert "Annual fee must be an amount in pounds and pence" in html
    assert "End date must be after the start date" in html
    assert 'value="three thousand"' in html and 'value="2026"' in html
    for fee, message in [("", "Enter the annual fee"), ("-5", "Annual fee must be £0 or more"),
                         ("3150.555", "must be an amount in pounds and pence"),
                         ("2,000,000", "Annual fee must be £1,000,000 or less")]:
        r = client.post(url, data=agreement_data(lot1.id, fee=fee))
        assert r.status_code == 400 and message in r.get_data(as_text=True)
    r = client.post(url, data={"lot_id": "", "annual_fee": "3150"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Select the lot" in html and "Enter the start date" in html
    assert "Enter the end date" in html
    r = client.post(url, data=agreement_data(lot1.id, starts=("31", "2", "2025")))
    assert r.status_code == 400 and "Start date must be a real date" in r.get_data(as_text=True)
    assert AccessAgreement.query.count() == 0


def test_agreements_for_the_same_lot_must_not_overlap(client, dps, admin, redbridge):
    login(client, admin)
    url = f"/admin/authorities/{redbridge.id}/agreements/new"
    lot1, lot2 = lot(dps, 1), lot(dps, 2)
    assert client.post(url, data=agreement_data(lot1.id)).status_code == 303
    r = client.post(url, data=agreement_data(lot1.id, starts=("31", "3", "2026"),
                                             ends=("31", "3", "2027")))
    assert r.status_code == 400
    assert ("already has an agreement for Lot 1 from 1 April 2025 to 31 March 2026"
            in r.get_data(as_text=True))
    # The day after it ends, or another lot, is fine.
    assert client.post(url, data=agreement_data(lot1.id, starts=("1", "4", "2026"),
                                                ends=("31", "3", "2027"))).status_code == 303
    assert client.post(url, data=agreement_data(lot2.id)).status_code == 303
    # Another authority may hold the same lot at the same time.
    other = Authority(name="London Borough of Havering")
    db.session.add(other)
    db.session.commit()
    assert client.post(f"/admin/authorities/{other.id}/agreements/new",
                       data=agreement_data(lot1.id)).status_code == 303
    assert AccessAgreement.query.count() == 4


def test_changing_and_ending_an_agreement(client, dps, admin, redbridge):
    login(client, admin)
    lot1, lot2 = lot(dps, 1), lot(dps, 2)
    client.post(f"/admin/authorities/{redbridge.id}/agreements/new",
                data=agreement_data(lot1.id, starts=("1", "4", "2025"), ends=("31", "3", "2028")))
    client.post(f"/admin/authorities/{redbridge.id}/agreements/new",
                data=agreement_data(lot2.id, starts=("1", "4", "2025"), ends=("31", "3", "2028")))
    first, second = AccessAgreement.query.order_by(AccessAgreement.id).all()

    html = client.get(f"/admin/authorities/agreements/{first.id}/edit").get_data(as_text=True)
    assert 'value="3,150.00"' in html and 'value="2028"' in html
    # Moving it onto Lot 2 would overlap the Lot 2 agreement.
    r = client.post(f"/admin/authorities/agreements/{first.id}/edit",
                    data=agreement_data(lot2.id, fee="3300"))
    assert r.status_code == 400 and "already has an agreement for Lot 2" in r.get_data(as_text=True)
    r = client.post(f"/admin/authorities/agreements/{first.id}/edit",
                    data=agreement_data(lot1.id, fee="3300", starts=("1", "4", "2025"),
                                        ends=("31", "3", "2028")))
    assert r.status_code == 303
    db.session.refresh(first)
    assert first.annual_fee == Decimal("3300.00")

    url = f"/admin/authorities/agreements/{second.id}/end"
    assert client.get(url).status_code == 200
    r = client.post(url, data={"last_day": ["1", "4", "2029"]})
    assert r.status_code == 400 and "on or before the current end date" in r.get_data(as_text=True)
    r = client.post(url, data={"last_day": ["", "", ""]})
    assert r.status_code == 400 and "Enter the last day of access" in r.get_data(as_text=True)
    r = client.post(url, data={"last_day": ["30", "9", "2025"], "reason": "Budget cut"})
    assert r.status_code == 303
    db.session.refresh(second)
    assert second.ends_on == date(2025, 9, 30)
    ended = AuditEvent.query.filter_by(action="access_agreement.ended").one()
    assert ended.before["ends_on"] == "2028-03-31" and ended.after["ends_on"] == "2025-09-30"
    assert ended.reason == "Budget cut"
    assert "Ended" in client.get("/admin/authorities/").get_data(as_text=True)


def test_the_lead_authority_is_unique_and_needs_no_agreement(client, dps, admin, redbridge):
    login(client, admin)
    assert client.post("/admin/authorities/new", data={"name": "London Borough of Newham",
                                                       "kind": "lead"}).status_code == 303
    lead = Authority.query.filter_by(is_lead=True).one()
    r = client.post("/admin/authorities/new", data={"name": "Essex County Council",
                                                    "kind": "lead"})
    assert r.status_code == 400 and "already the lead authority" in r.get_data(as_text=True)
    r = client.post("/admin/authorities/new", data={"name": "london borough of redbridge",
                                                    "kind": "member"})
    assert r.status_code == 400 and "There is already an authority called" in r.get_data(
        as_text=True)
    r = client.post(f"/admin/authorities/{lead.id}/agreements/new",
                    data=agreement_data(lot(dps, 1).id))
    assert r.status_code == 303 and AccessAgreement.query.count() == 0
    r = client.post(f"/admin/authorities/{redbridge.id}/edit",
                    data={"name": "London Borough of Redbridge Council", "kind": "member"})
    assert r.status_code == 303
    db.session.refresh(redbridge)
    assert redbridge.name == "London Borough of Redbridge Council"


def test_a_token_is_shown_once_and_only_its_hash_is_kept(client, dps, admin, redbridge):
    login(client, admin)
    url = f"/admin/authorities/{redbridge.id}/tokens/new"
    assert client.get(url).status_code == 200
    r = client.post(url, data={"name": ""})
    assert r.status_code == 400 and "Enter what the token is for" in r.get_data(as_text=True)
    r = client.post(url, data={"name": "Placements brokerage"})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    token = ApiToken.query.one()
    start = html.index('id="api-token">') + len('id="api-token">')
    plaintext = html[start:html.index("</code>", start)]
    assert plaintext.startswith("dps_") and len(plaintext) > 40
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[:12] and token.created_by_id == admin.id
    stored = " ".join(str(getattr(token, c.key)) for c in ApiToken.__table__.columns)
    assert plaintext not in stored
    assert plaintext not in str([(e.before, e.after) for e in AuditEvent.query.all()])
    # Never again: the list shows its prefix only.
    html = client.get("/admin/authorities/").get_data(as_text=True)
    assert plaintext not in html and f"{token.prefix}…" in html
    assert f'Revoke<span class="govuk-visually-hidden"> token {token.prefix}…' in html
    assert "api_token.issued" in actions()
    # The plaintext authenticates (Redbridge has no agreement yet, so: no lots).
    r = client.get("/api/v1/providers", headers={"Authorization": f"Bearer {plaintext}"})
    assert r.status_code == 403 and "no current access agreement" in r.get_json()["error"]


def test_revoking_a_token_stops_it_working(client, dps, admin, redbridge):
    db.session.add(AccessAgreement(authority_id=redbridge.id, lot_id=lot(dps, 1).id,
                                   annual_fee=Decimal("3150"), starts_on=date(2024, 2, 1),
                                   ends_on=date(2030, 3, 8)))
    db.session.commit()
    login(client, admin)
    html = client.post(f"/admin/authorities/{redbridge.id}/tokens/new",
                       data={"name": "Brokerage"}).get_data(as_text=True)
    start = html.index('id="api-token">') + len('id="api-token">')
    plaintext = html[start:html.index("</code>", start)]
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/providers", headers=headers).status_code == 200
    token = ApiToken.query.one()
    r = client.post(f"/admin/authorities/tokens/{token.id}/revoke")
    assert r.status_code == 303
    db.session.refresh(token)
    assert token.revoked_at is not None and token.revoked_by_id == admin.id
    assert client.get("/api/v1/providers", headers=headers).status_code == 401
    html = client.get("/admin/authorities/").get_data(as_text=True)
    assert "Revoked" in html
    r = client.post(f"/admin/authorities/tokens/{token.id}/revoke", follow_redirects=True)
    assert "already been revoked" in r.get_data(as_text=True)
    assert actions().count("api_token.revoked") == 1
    assert client.post("/admin/authorities/tokens/999/revoke").status_code == 404


def test_member_officers_must_belong_to_a_member_authority(client, dps, admin, redbridge):
    login(client, admin)
    html = client.get("/admin/users/new").get_data(as_text=True)
    assert "London Borough of Redbridge" in html
    data = {"full_name": "Sam Patel", "email": "sam@redbridge.example", "role": "member_officer"}
    r = client.post("/admin/users/new", data=data)
    assert r.status_code == 400
    assert "Select the member authority this officer works for" in r.get_data(as_text=True)
    lead = Authority(name="London Borough of Newham", is_lead=True)
    db.session.add(lead)
    db.session.commit()
    r = client.post("/admin/users/new", data={**data, "authority_id": str(lead.id)})
    assert r.status_code == 400 and "not the lead authority" in r.get_data(as_text=True)
    r = client.post("/admin/users/new", data={**data, "authority_id": str(redbridge.id)})
    assert r.status_code == 303
    officer = User.query.filter_by(email="sam@redbridge.example").one()
    assert officer.authority_id == redbridge.id
    # Lead staff may not join a member authority.
    r = client.post("/admin/users/new", data={"full_name": "Tom Okafor",
                                              "email": "tom@newham.example",
                                              "role": "evaluator",
                                              "authority_id": str(redbridge.id)})
    assert r.status_code == 400 and "work for the lead authority" in r.get_data(as_text=True)


def test_lead_staff_join_the_lead_authority_created_from_the_dps(client, dps, admin):
    login(client, admin)
    assert Authority.query.count() == 0
    r = client.post("/admin/users/new", data={"full_name": "Tom Okafor",
                                              "email": "tom@newham.example",
                                              "role": "evaluator"})
    assert r.status_code == 303
    lead = Authority.query.one()
    assert lead.is_lead and lead.name == dps.lead_authority
    assert User.query.filter_by(email="tom@newham.example").one().authority_id == lead.id
    assert {"authority.created", "account.invited", "account.authority_set"} <= set(actions())
