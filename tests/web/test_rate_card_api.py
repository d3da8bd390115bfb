"""The rate-card API a member authority's brokerage tool reads with its token:
authentication, lot scoping by current agreement, suspended and removed
providers, pagination, bounded queries and the OpenAPI description."""
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

from app.domain import api_tokens
from app.domain.applications import today
from app.domain.audit import SYSTEM
from app.domain.reference import SettingType
from app.domain.states import ComplianceStatus, MembershipStatus, PriceSource
from app.extensions import db
from app.models import AccessAgreement, ApiToken, Authority, Membership, Price, utcnow
from tests.factories import count_statements, make_provider, make_setting

D = Decimal
JOINED = date(2024, 4, 1)


def lots(dps):
    return {lot.number: lot for lot in dps.lots}


def member(name, *agreements):
    """A member authority with (lot, starts_on, ends_on) agreements."""
    authority = Authority(name=name, is_lead=False)
    db.session.add(authority)
    db.session.flush()
    for lot, starts_on, ends_on in agreements:
        db.session.add(AccessAgreement(authority_id=authority.id, lot_id=lot.id,
                                       annual_fee=D("3150"), starts_on=starts_on,
                                       ends_on=ends_on))
    db.session.commit()
    return authority


def current(lot):
    return (lot, date(2024, 2, 1), date(2030, 3, 8))


def token_for(authority) -> str:
    _, plaintext = api_tokens.issue_token(SYSTEM, authority, name="Brokerage", created_by_id=None)
    db.session.commit()
    return plaintext


def approve(provider, lot, *, status=MembershipStatus.ACTIVE, weekly=("925",), rates=("25.50",),
            compliance=ComplianceStatus.COMPLIANT):
    """A membership of `lot` with last year's and this year's prices."""
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, started_on=JOINED,
                              status=status, compliance=compliance))
    review = date(today().year - 1, 4, 1)
    for pt, amount in zip(lot.placement_types, weekly):
        db.session.add_all([
            Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
                  amount=D(amount) - 50, valid_from=JOINED, valid_to=review,
                  source=PriceSource.APPLICATION),
            Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
                  amount=D(amount), valid_from=review, source=PriceSource.FEE_REVIEW)])
    for item, amount in zip(lot.service_items, rates):
        db.session.add(Price(provider_id=provider.id, lot_id=lot.id, service_item_id=item.id,
                             amount=D(amount), valid_from=review,
                             source=PriceSource.APPLICATION))
    db.session.commit()


def get(client, url, token):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def market(dps):
    """An IFA on Lot 1, a children's home operator on Lot 2, and one provider on both."""
    by_number = lots(dps)
    ifa = make_provider(trading_name="Thameside Fostering")
    make_setting(ifa, name="Thameside agency", postcode="E6 6ER")
    approve(ifa, by_number[1], weekly=("925", "950"))
    homes = make_provider(trading_name="Hawthorn Homes")
    make_setting(homes, name="Hawthorn House", setting_type=SettingType.CHILDRENS_HOME,
                 postcode="RM7 9AX", registered_places=3, age_min=8)
    approve(homes, by_number[2], weekly=("4250",))
    both = make_provider(trading_name="Kingfisher Care")
    make_setting(both, name="Kingfisher agency", postcode="E17 4JN")
    make_setting(both, name="Kingfisher Lodge", setting_type=SettingType.CHILDRENS_HOME,
                 postcode="E17 4JN")
    approve(both, by_number[1], weekly=("990",), rates=("31.00",))
    approve(both, by_number[2], weekly=("3800",), rates=("40.00",))
    return {"ifa": ifa, "homes": homes, "both": both}


# ------------------------------------------------------------------ authentication

def test_no_token_is_401_json_never_a_sign_in_redirect(client, dps):
    r = client.get("/api/v1/providers")
    assert r.status_code == 401
    assert r.is_json and "Authorization" in r.get_json()["error"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.get("/api/v1/providers", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.is_json


def test_unknown_and_revoked_tokens_are_refused(client, dps):
    authority = member("London Borough of Havering", current(lots(dps)[2]))
    plaintext = token_for(authority)
    assert get(client, "/api/v1/providers", plaintext).status_code == 200
    r = get(client, "/api/v1/providers", plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    token = ApiToken.query.one()
    api_tokens.revoke_token(SYSTEM, token, by_user_id=None)
    db.session.commit()
    r = get(client, "/api/v1/providers", plaintext)
    assert r.status_code == 401 and "revoked" in r.get_json()["error"]


def test_using_a_token_records_when_it_was_last_used(client, dps):
    authority = member("London Borough of Havering", current(lots(dps)[2]))
    plaintext = token_for(authority)
    assert ApiToken.query.one().last_used_at is None
    get(client, "/api/v1/providers", plaintext)
    db.session.expire_all()
    used = ApiToken.query.one().last_used_at
    assert used is not None and utcnow() - used < timedelta(minutes=1)


# ------------------------------------------------------------------ lot scoping

def test_a_member_with_lot_2_only_never_sees_lot_1(client, dps, market):
    havering = member("London Borough of Havering", current(lots(dps)[2]))
    plaintext = token_for(havering)
    r = get(client, "/api/v1/providers", plaintext)
    assert r.status_code == 200
    body = r.get_json()
    assert body["meta"]["lots"] == [2] and body["meta"]["total"] == 2
    names = [p["name"] for p in body["data"]]
    assert names == ["Hawthorn Homes", "Kingfisher Care"]
    for provider in body["data"]:
        assert {m["lot"] for m in provider["memberships"]} == {2}
        assert {p["lot"] for p in provider["ceiling_prices"]} == {2}
        assert {s["lot"] for s in provider["additional_services"]} == {2}
        assert all(s["type"] == "childrens_home" for s in provider["settings"])
    # The provider on both lots: only its Lot 2 prices, current ones only.
    both = body["data"][1]
    assert [p["weekly_price"] for p in both["ceiling_prices"]] == ["3800.00"]
    assert [s["rate"] for s in both["additional_services"]] == ["40.00"]
    assert "990" not in r.get_data(as_text=True)
    # Asking for Lot 1 by number is refused; the IFA is not there at all.
    r = get(client, "/api/v1/providers?lot=1", plaintext)
    assert r.status_code == 403 and "lot 1" in r.get_json()["error"]
    assert get(client, f"/api/v1/providers/{market['ifa'].id}", plaintext).status_code == 404
    detail = get(client, f"/api/v1/providers/{market['both'].id}", plaintext).get_json()["data"]
    assert [m["lot"] for m in detail["memberships"]] == [2]
    assert get(client, "/api/v1/providers?lot=9", plaintext).status_code == 400


def test_filtering_by_one_of_the_authoritys_lots(client, dps, market):
    redbridge = member("London Borough of Redbridge", current(lots(dps)[1]),
                       current(lots(dps)[2]))
    plaintext = token_for(redbridge)
    body = get(client, "/api/v1/providers", plaintext).get_json()
    assert body["meta"]["total"] == 3 and body["meta"]["lots"] == [1, 2]
    body = get(client, "/api/v1/providers?lot=1", plaintext).get_json()
    assert [p["name"] for p in body["data"]] == ["Thameside Fostering", "Kingfisher Care"]
    ifa = body["data"][0]
    assert [(p["placement_type"], p["weekly_price"]) for p in ifa["ceiling_prices"]] == [
        (lots(dps)[1].placement_types[0].name, "925.00"),
        (lots(dps)[1].placement_types[1].name, "950.00")]
    assert ifa["ceiling_prices"][0]["valid_from"] == date(today().year - 1, 4, 1).isoformat()
    assert ifa["additional_services"][0]["unit"] == "hour"
    assert ifa["compliance"] == {"1": "compliant"}
    [setting] = ifa["settings"]
    assert setting["outcode"] == "E6" and setting["lots"] == [1]
    assert "postcode" not in setting and "6ER" not in json.dumps(body)


def test_an_expired_agreement_gives_no_access(client, dps, market):
    by_number = lots(dps)
    expired = (by_number[1], date(2024, 2, 1), today() - timedelta(days=1))
    future = (by_number[3], today() + timedelta(days=30), date(2030, 3, 8))
    waltham = member("London Borough of Waltham Forest", expired, future)
    plaintext = token_for(waltham)
    r = get(client, "/api/v1/providers", plaintext)
    assert r.status_code == 403 and "no current access agreement" in r.get_json()["error"]
    # With a current Lot 2 agreement too, Lot 1 stays out.
    db.session.add(AccessAgreement(authority_id=waltham.id, lot_id=by_number[2].id,
                                   annual_fee=D("3150"), starts_on=date(2024, 2, 1),
                                   ends_on=today()))
    db.session.commit()
    body = get(client, "/api/v1/providers", plaintext).get_json()
    assert body["meta"]["lots"] == [2]
    assert all(m["lot"] == 2 for p in body["data"] for m in p["memberships"])


def test_the_lead_authoritys_tokens_see_every_lot(client, dps, market):
    lead = Authority(name="London Borough of Newham", is_lead=True)
    db.session.add(lead)
    db.session.commit()
    body = get(client, "/api/v1/providers", token_for(lead)).get_json()
    assert body["meta"]["lots"] == [1, 2, 3, 4] and body["meta"]["total"] == 3


# ------------------------------------------------------------------ suspended and removed

def test_suspended_providers_are_marked_and_removed_ones_left_out(client, dps, market):
    by_number = lots(dps)
    redbridge = member("London Borough of Redbridge", current(by_number[1]),
                       current(by_number[2]))
    plaintext = token_for(redbridge)
    both = market["both"]
    Membership.query.filter_by(provider_id=both.id, lot_id=by_number[2].id).one().status = \
        MembershipStatus.SUSPENDED
    Membership.query.filter_by(provider_id=market["homes"].id).one().status = \
        MembershipStatus.REMOVED
    db.session.commit()

    body = get(client, "/api/v1/providers", plaintext).get_json()
    assert [p["name"] for p in body["data"]] == ["Thameside Fostering", "Kingfisher Care"]
    card = body["data"][1]
    assert card["suspended"] is True and card["available"] is True  # still active on Lot 1
    by_lot = {m["lot"]: m for m in card["memberships"]}
    assert by_lot[2]["status"] == "suspended" and by_lot[2]["available"] is False
    assert by_lot[1]["status"] == "active" and by_lot[1]["available"] is True
    lodge = next(s for s in card["settings"] if s["name"] == "Kingfisher Lodge")
    assert lodge["lots"] == [2] and lodge["available"] is False

    # Suspended from Lot 2 only: a Lot 2 tool sees it, but not as available.
    body = get(client, "/api/v1/providers?lot=2", plaintext).get_json()
    [card] = body["data"]
    assert card["suspended"] is True and card["available"] is False
    assert get(client, f"/api/v1/providers/{market['homes'].id}", plaintext).status_code == 404


def test_a_suspended_setting_is_not_available(client, dps, market):
    redbridge = member("London Borough of Redbridge", current(lots(dps)[1]))
    setting = market["ifa"].settings[0]
    setting.is_suspended = True
    db.session.commit()
    card = get(client, f"/api/v1/providers/{market['ifa'].id}",
               token_for(redbridge)).get_json()["data"]
    assert card["settings"][0]["suspended"] is True
    assert card["settings"][0]["available"] is False
    assert card["available"] is True  # the provider itself is not suspended


def test_non_compliance_is_reported(client, dps, market):
    redbridge = member("London Borough of Redbridge", current(lots(dps)[2]))
    membership = Membership.query.filter_by(provider_id=market["homes"].id).one()
    membership.compliance = ComplianceStatus.NON_COMPLIANT
    membership.non_compliant_since = date(2025, 10, 1)
    db.session.commit()
    card = get(client, f"/api/v1/providers/{market['homes'].id}",
               token_for(redbridge)).get_json()["data"]
    assert card["compliance"] == {"2": "non_compliant"}
    assert card["memberships"][0]["non_compliant_since"] == "2025-10-01"


# ------------------------------------------------------------------ pagination

def test_pages_walk_every_provider_once(client, dps):
    lot = lots(dps)[1]
    providers = [make_provider() for _ in range(5)]
    for provider in providers:
        approve(provider, lot)
    plaintext = token_for(member("London Borough of Redbridge", current(lot)))
    seen = []
    url = "/api/v1/providers?per_page=2"
    while url:
        body = get(client, url, plaintext).get_json()
        assert body["meta"]["total"] == 5 and body["meta"]["per_page"] == 2
        seen += [p["id"] for p in body["data"]]
        url = body["meta"]["next"]
    assert seen == [p.id for p in providers]
    last = get(client, "/api/v1/providers?per_page=2&page=3", plaintext).get_json()
    assert len(last["data"]) == 1 and last["meta"]["next"] is None
    assert "page=2" in last["meta"]["prev"] and "per_page=2" in last["meta"]["prev"]
    beyond = get(client, "/api/v1/providers?page=9", plaintext).get_json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 5


@pytest.mark.parametrize("query", ["per_page=101", "per_page=0", "page=0", "page=x",
                                   "lot=one", "updated_since=yesterday"])
def test_bad_parameters_are_400_with_a_message(client, dps, query):
    plaintext = token_for(member("London Borough of Redbridge", current(lots(dps)[1])))
    r = get(client, f"/api/v1/providers?{query}", plaintext)
    assert r.status_code == 400 and r.get_json()["error"]


def test_updated_since_returns_only_providers_that_changed(client, dps, market):
    redbridge = member("London Borough of Redbridge", current(lots(dps)[1]),
                       current(lots(dps)[2]))
    plaintext = token_for(redbridge)
    cut = utcnow() + timedelta(seconds=1)
    body = get(client, f"/api/v1/providers?updated_since={cut.isoformat()}Z", plaintext).get_json()
    assert body["data"] == [] and body["meta"]["total"] == 0
    # A new price row is a change.
    later = cut + timedelta(minutes=5)
    db.session.add(Price(provider_id=market["homes"].id, lot_id=lots(dps)[2].id,
                         placement_type_id=lots(dps)[2].placement_types[1].id,
                         amount=D("3600"), valid_from=today(), source=PriceSource.NEGOTIATION,
                         created_at=later))
    db.session.commit()
    body = get(client, f"/api/v1/providers?updated_since={cut.isoformat()}%2B00:00",
               plaintext).get_json()
    assert [p["name"] for p in body["data"]] == ["Hawthorn Homes"]
    assert get(client, f"/api/v1/providers?updated_since={(cut - timedelta(days=400)).date()}",
               plaintext).get_json()["meta"]["total"] == 3


# ------------------------------------------------------------------ queries



def test_a_page_costs_the_same_queries_however_many_providers(client, app_ctx, dps):
    by_number = lots(dps)
    plaintext = token_for(member("London Borough of Redbridge", current(by_number[1]),
                                 current(by_number[2])))

    def add(n):
        for _ in range(n):
            provider = make_provider()
            make_setting(provider)
            make_setting(provider, setting_type=SettingType.CHILDRENS_HOME, specialisms=["autism"])
            approve(provider, by_number[1], weekly=("900", "950"), rates=("20", "30"))
            approve(provider, by_number[2], weekly=("3900",), rates=("45",))

    def fetch():
        r = get(client, "/api/v1/providers?per_page=50", plaintext)
        assert r.status_code == 200
        db.session.expire_all()  # no help from objects the test loaded
        return r.get_json()

    add(2)
    fetch()  # the first request records last_used_at
    few = count_statements(fetch)
    add(6)
    many = count_statements(fetch)
    assert len(fetch()["data"]) == 8
    assert many == few and few <= 11


# ------------------------------------------------------------------ OpenAPI

def test_openapi_description_is_public_valid_and_matches_responses(client, dps, market):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.is_json
    spec = r.get_json()
    assert spec["openapi"].startswith("3.1")
    assert {"/providers", "/providers/{provider_id}"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["servers"][0]["url"].endswith("/api/v1")
    validate_spec(spec)

    def check(schema_name, instance):
        # The document's own components, so its local $refs resolve.
        schema = {"$ref": f"#/components/schemas/{schema_name}",
                  "components": spec["components"]}
        OAS31Validator(schema).validate(instance)

    plaintext = token_for(member("London Borough of Redbridge", current(lots(dps)[1]),
                                 current(lots(dps)[2])))
    check("ProviderList", get(client, "/api/v1/providers?per_page=2", plaintext).get_json())
    check("ProviderDetail", get(client, f"/api/v1/providers/{market['both'].id}",
                                plaintext).get_json())
    check("Error", client.get("/api/v1/providers").get_json())


# ------------------------------------------------------------------ demo data

def test_the_demo_tokens_read_their_authoritys_lots(client, app_ctx):
    from app.demo import DEMO_API_TOKENS, load_demo_data
    from app.models import User
    summary = load_demo_data()
    redbridge_token = DEMO_API_TOKENS["London Borough of Redbridge"]
    assert redbridge_token in summary
    body = get(client, "/api/v1/providers?per_page=100", redbridge_token).get_json()
    assert body["meta"]["lots"] == [1, 2] and body["meta"]["total"] == 20
    assert all(p["ceiling_prices"] for p in body["data"])
    havering = get(client, "/api/v1/providers?per_page=100",
                   DEMO_API_TOKENS["London Borough of Havering"]).get_json()
    assert havering["meta"]["lots"] == [2] and havering["meta"]["total"] == 10
    officer = User.query.filter_by(email="officer@redbridge.example").one()
    assert officer.authority.name == "London Borough of Redbridge"
    lead_staff = User.query.filter(User.email.like("%@newham.example")).all()
    assert lead_staff and all(u.authority.is_lead for u in lead_staff)
    waltham = Authority.query.filter_by(name="London Borough of Waltham Forest").one()
    assert [a.lot.number for a in waltham.agreements if a.ends_on >= today()] == [1]
