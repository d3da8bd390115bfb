from datetime import date, timedelta

import pytest

from app.domain.reference import OfstedJudgement, SettingType
from app.domain.states import Role
from app.extensions import db
from app.models import AuditEvent, Provider, Setting, User
from tests.factories import login, make_provider, make_setting, make_user, outbox

ORGANISATION = {
    "legal_name": "Riverside Care Ltd", "trading_name": "Riverside Fostering",
    "company_number": "sc 123456", "charity_number": "", "address_line_1": "1 Quay Street",
    "address_line_2": "", "town": "Stratford", "postcode": "e154qz",
    "contact_name": "Amira Khan", "contact_phone": "020 7946 0000",
    "contact_email": "Amira@Riverside.example",
}
SETTING = {
    "name": "Willow House", "setting_type": "childrens_home", "ofsted_urn": "sc654321",
    "ofsted_judgement": "good", "ofsted_judgement_date": ["3", "4", "2025"],
    "registered_places": "4", "age_min": "8", "age_max": "17", "gender": "any",
    "specialisms": ["autism", "solo"], "postcode": "n1 9gu",
}


def organisation(**changes) -> dict:
    return {**ORGANISATION, **changes}


def setting_form(**changes) -> dict:
    return {**SETTING, **changes}


def events(action: str) -> list[AuditEvent]:
    return db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).scalars().all()


@pytest.fixture
def newcomer(client):
    """A provider admin who has confirmed their email but not registered an organisation."""
    user = make_user(Role.PROVIDER_ADMIN, full_name="Amira Khan", email="amira@riverside.example")
    login(client, user)
    return user


@pytest.fixture
def provider():
    return make_provider()


@pytest.fixture
def admin(client, provider):
    user = make_user(Role.PROVIDER_ADMIN, provider)
    login(client, user)
    return user


# --- Registering the organisation ---------------------------------------------

def test_register_organisation(client, newcomer):
    page = client.get("/organisation/new")
    assert page.status_code == 200
    assert 'value="Amira Khan"' in page.text  # the main contact starts as the registrant

    r = client.post("/organisation/new", data=organisation())
    assert r.status_code == 303 and r.headers["Location"].endswith("/applications/")
    provider = db.session.execute(db.select(Provider)).scalar_one()
    assert (provider.company_number, provider.postcode, provider.contact_email) == (
        "SC123456", "E15 4QZ", "amira@riverside.example")
    assert db.session.get(User, newcomer.id).provider_id == provider.id
    [event] = events("provider.registered")
    assert event.provider_id == provider.id and event.actor_id == newcomer.id
    assert event.after["company_number"] == "SC123456"
    assert client.get("/organisation").status_code == 200


def test_account_without_organisation_is_sent_to_register_it(client, newcomer):
    for url in ("/organisation", "/organisation/edit", "/settings", "/settings/new", "/team"):
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].endswith("/organisation/new"), url


def test_registered_user_cannot_register_again(client, admin):
    r = client.get("/organisation/new")
    assert r.status_code == 302 and r.headers["Location"].endswith("/organisation")


def test_staff_cannot_see_provider_pages(client, app_ctx):
    login(client, make_user(Role.EVALUATOR))
    assert client.get("/organisation").status_code == 403
    assert client.get("/settings").status_code == 403


def test_empty_registration_lists_every_required_answer(client, newcomer):
    r = client.post("/organisation/new", data={name: "" for name in ORGANISATION})
    assert r.status_code == 400
    for message in ("Enter the organisation&#39;s legal name", "Enter the Companies House number",
                    "Enter address line 1, typically the building and street",
                    "Enter the town or city", "Enter a postcode",
                    "Enter the main contact&#39;s full name", "Enter a phone number",
                    "Enter the main contact&#39;s email address"):
        assert message in r.text
    assert "There is a problem" in r.text
    assert db.session.execute(db.select(Provider)).first() is None


@pytest.mark.parametrize("field, value, message", [
    ("company_number", "1234567", "Companies House number must be 8 characters"),
    ("company_number", "S1234567", "Enter a Companies House number in the correct format"),
    ("charity_number", "12AB", "Enter a charity number in the correct format"),
    ("postcode", "E15 4Q", "Enter a real postcode, like E15 4QZ"),
    ("contact_phone", "12345", "Enter a UK phone number"),
    ("contact_phone", "+1 202 555 0143", "Enter a UK phone number"),
    ("contact_email", "not-an-email", "Enter an email address in the correct format"),
    ("legal_name", "x" * 201, "Legal name must be 200 characters or fewer"),
])
def test_registration_validation(client, newcomer, field, value, message):
    r = client.post("/organisation/new", data=organisation(**{field: value}))
    assert r.status_code == 400
    assert message in r.text
    assert 'value="1 Quay Street"' in r.text  # what they typed is kept
    assert db.session.get(User, newcomer.id).provider_id is None


def test_company_number_already_registered(client, newcomer):
    make_provider(company_number="SC123456")
    r = client.post("/organisation/new", data=organisation())
    assert r.status_code == 400
    assert "already has an account. Ask its administrator to invite you" in r.text
    assert db.session.execute(db.select(db.func.count(Provider.id))).scalar() == 1
    assert db.session.get(User, newcomer.id).provider_id is None
    assert events("provider.registered") == []


# --- Viewing and changing the organisation ------------------------------------

def test_admin_sees_change_links_and_user_sees_read_only(client, admin, provider):
    r = client.get("/organisation")
    assert r.status_code == 200
    assert provider.legal_name in r.text and "/organisation/edit#legal_name" in r.text

    login(client, make_user(Role.PROVIDER_USER, provider))
    r = client.get("/organisation")
    assert r.status_code == 200 and provider.legal_name in r.text
    assert "/organisation/edit" not in r.text
    assert "Only your organisation's administrators can change" in r.text


def test_edit_organisation_audits_what_changed(client, admin, provider):
    page = client.get("/organisation/edit")
    assert page.status_code == 200 and f'value="{provider.company_number}"' in page.text
    data = {name: getattr(provider, name) for name in ORGANISATION}
    old_trading_name = data["trading_name"]
    data.update(trading_name="Brightwater Homes", postcode="sw1a1aa")
    r = client.post("/organisation/edit", data=data)
    assert r.status_code == 303 and r.headers["Location"].endswith("/organisation")
    db.session.expire_all()
    assert db.session.get(Provider, provider.id).postcode == "SW1A 1AA"
    [event] = events("provider.updated")
    assert event.after == {"trading_name": "Brightwater Homes", "postcode": "SW1A 1AA"}
    assert event.before == {"trading_name": old_trading_name, "postcode": "E15 4QZ"}


def test_edit_organisation_keeps_input_on_error(client, admin, provider):
    old_legal_name = provider.legal_name
    data = {name: getattr(provider, name) for name in ORGANISATION}
    data.update(legal_name="A New Legal Name Ltd", postcode="not a postcode")
    r = client.post("/organisation/edit", data=data)
    assert r.status_code == 400
    assert 'value="A New Legal Name Ltd"' in r.text and 'value="not a postcode"' in r.text
    assert "Enter a real postcode" in r.text
    db.session.expire_all()
    assert db.session.get(Provider, provider.id).legal_name == old_legal_name
    assert events("provider.updated") == []


def test_edit_organisation_returns_to_a_safe_next(client, admin, provider):
    data = {name: getattr(provider, name) for name in ORGANISATION}
    r = client.post("/organisation/edit?next=/applications/7/organisation", data=data)
    assert r.headers["Location"].endswith("/applications/7/organisation")
    assert 'href="/applications/7/organisation"' in client.get(
        "/organisation/edit?next=/applications/7/organisation").text
    r = client.post("/organisation/edit?next=//evil.example/", data=data)
    assert r.status_code == 303 and r.headers["Location"].endswith("/organisation")
    assert "evil" not in r.headers["Location"]


def test_edit_to_another_organisations_company_number_is_refused(client, admin, provider):
    other = make_provider()
    data = {name: getattr(provider, name) for name in ORGANISATION}
    data["company_number"] = other.company_number
    r = client.post("/organisation/edit", data=data)
    assert r.status_code == 400 and "already has an account" in r.text


def test_provider_user_cannot_change_organisation_but_can_add_settings(client, provider):
    login(client, make_user(Role.PROVIDER_USER, provider))
    assert client.get("/organisation/edit").status_code == 403
    data = {name: getattr(provider, name) for name in ORGANISATION}
    assert client.post("/organisation/edit", data={**data, "legal_name": "Hijack"}).status_code == 403
    assert client.post("/settings/new", data=setting_form()).status_code == 303


# --- Settings -------------------------------------------------------------------

def test_add_a_setting(client, admin, provider):
    assert client.get("/settings/new").status_code == 200
    r = client.post("/settings/new", data=setting_form())
    assert r.status_code == 303
    setting = db.session.execute(db.select(Setting)).scalar_one()
    assert r.headers["Location"].endswith(f"/settings/{setting.id}")
    assert (setting.provider_id, setting.ofsted_urn, setting.postcode, setting.outcode) == (
        provider.id, "SC654321", "N1 9GU", "N1")
    assert setting.setting_type is SettingType.CHILDRENS_HOME
    assert setting.ofsted_judgement_date == date(2025, 4, 3)
    assert setting.specialisms == ["autism", "solo"]
    [event] = events("setting.created")
    assert event.subject_id == setting.id and event.provider_id == provider.id
    assert event.after["ofsted_urn"] == "SC654321"

    detail = client.get(f"/settings/{setting.id}").text
    assert "Willow House" in detail and "Autism" in detail and "3 April 2025" in detail
    listing = client.get("/settings").text
    assert "Willow House" in listing and "govuk-tag--green" in listing and "8 to 17" in listing


def test_settings_list_tags_each_judgement(client, admin, provider):
    make_setting(provider, name="A", ofsted_judgement=OfstedJudgement.REQUIRES_IMPROVEMENT)
    make_setting(provider, name="B", ofsted_judgement=OfstedJudgement.INADEQUATE)
    make_setting(provider, name="C", ofsted_judgement=OfstedJudgement.NOT_YET_INSPECTED,
                 ofsted_judgement_date=None)
    html = client.get("/settings").text
    for css in ("govuk-tag--yellow", "govuk-tag--red", "govuk-tag--grey"):
        assert css in html
    assert "Add a setting" in html


def test_not_yet_inspected_setting_needs_no_date(client, admin):
    r = client.post("/settings/new", data=setting_form(
        ofsted_judgement="not_yet_inspected", ofsted_urn="2512345",
        ofsted_judgement_date=["", "", ""]))
    assert r.status_code == 303
    setting = db.session.execute(db.select(Setting)).scalar_one()
    assert setting.ofsted_judgement_date is None and setting.ofsted_urn == "2512345"


def test_setting_form_without_date_boxes_is_a_validation_error(client, admin):
    data = setting_form()
    del data["ofsted_judgement_date"]
    r = client.post("/settings/new", data=data)
    assert r.status_code == 400
    assert "Enter the date of the latest Ofsted judgement" in r.text


def test_future_judgement_date_is_refused(client, admin):
    soon = date.today() + timedelta(days=10)
    r = client.post("/settings/new", data=setting_form(
        ofsted_judgement_date=[str(soon.day), str(soon.month), str(soon.year)]))
    assert r.status_code == 400
    assert "must be today or in the past" in r.text
    assert db.session.execute(db.select(Setting)).first() is None


@pytest.mark.parametrize("changes, message", [
    ({"ofsted_urn": "SC12345"}, "Enter an Ofsted URN in the correct format"),
    ({"ofsted_urn": "3512345"}, "Enter an Ofsted URN in the correct format"),
    ({"ofsted_urn": ""}, "Enter the Ofsted unique reference number (URN)"),
    ({"age_min": "18", "age_max": "17"}, "Oldest age must be the same as or older than the youngest age"),
    ({"age_max": "26"}, "Oldest age must be between 0 and 25"),
    ({"age_min": "-1"}, "Youngest age must be between 0 and 25"),
    ({"age_min": ""}, "Enter the youngest age accepted"),
    ({"postcode": "N1 9G"}, "Enter a real postcode, like E15 4QZ"),
    ({"registered_places": "0"}, "Registered places must be between 1 and 200"),
    ({"registered_places": "201"}, "Registered places must be between 1 and 200"),
    ({"registered_places": "4.5"}, "Registered places must be a whole number"),
    ({"registered_places": ""}, "Enter the number of registered places"),
    ({"ofsted_judgement_date": ["31", "2", "2024"]}, "must be a real date"),
    ({"ofsted_judgement_date": ["1", "", "2024"]}, "must include a month"),
    ({"ofsted_judgement_date": ["1", "2", "24"]}, "Year must include 4 numbers"),
    ({"ofsted_judgement_date": ["", "", ""]}, "Enter the date of the latest Ofsted judgement"),
    ({"setting_type": ""}, "Select the type of setting"),
    ({"setting_type": "castle"}, "Select the type of setting"),
    ({"ofsted_judgement": ""}, "Select the latest Ofsted judgement"),
    ({"gender": ""}, "Select who the setting accepts"),
    ({"specialisms": ["dragons"]}, "Select specialisms from the list"),
    ({"name": ""}, "Enter the name of the setting"),
])
def test_setting_validation(client, admin, changes, message):
    r = client.post("/settings/new", data=setting_form(**changes))
    assert r.status_code == 400
    assert message in r.text
    assert ('value="Willow House"' if "name" not in changes else 'value="SC654321"') in r.text
    assert db.session.execute(db.select(Setting)).first() is None


def test_special_school_may_use_its_school_urn(client, admin):
    r = client.post("/settings/new", data=setting_form(setting_type="special_school",
                                                       ofsted_urn="131234"))
    assert r.status_code == 303


def test_edit_a_setting(client, admin, provider):
    setting = make_setting(provider, name="Oak House", registered_places=20)
    page = client.get(f"/settings/{setting.id}/edit")
    assert page.status_code == 200 and 'value="Oak House"' in page.text
    assert 'value="2025"' in page.text  # the judgement date is filled in
    r = client.post(f"/settings/{setting.id}/edit", data=setting_form(
        name="Oak House", setting_type="fostering_agency", ofsted_urn=setting.ofsted_urn,
        ofsted_judgement_date=["1", "6", "2025"], registered_places="24", age_min="0",
        age_max="17", specialisms=[], postcode="E15 4QZ"))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/settings/{setting.id}")
    db.session.expire_all()
    assert db.session.get(Setting, setting.id).registered_places == 24
    [event] = events("setting.updated")
    assert event.before == {"registered_places": 20} and event.after == {"registered_places": 24}


def test_edit_setting_keeps_input_on_error(client, admin, provider):
    setting = make_setting(provider, name="Oak House")
    r = client.post(f"/settings/{setting.id}/edit",
                    data=setting_form(name="Renamed House", age_min="12", age_max="9"))
    assert r.status_code == 400
    assert 'value="Renamed House"' in r.text and "Oldest age must be the same as" in r.text
    db.session.expire_all()
    assert db.session.get(Setting, setting.id).name == "Oak House"


def test_another_providers_setting_is_not_found(client, admin):
    theirs = make_setting(make_provider(), name="Their House", registered_places=6)
    assert client.get(f"/settings/{theirs.id}").status_code == 404
    assert client.get(f"/settings/{theirs.id}/edit").status_code == 404
    r = client.post(f"/settings/{theirs.id}/edit", data=setting_form(name="Stolen"))
    assert r.status_code == 404
    assert "Their House" not in client.get("/settings").text
    db.session.expire_all()
    unchanged = db.session.get(Setting, theirs.id)
    assert (unchanged.name, unchanged.registered_places) == ("Their House", 6)
    assert events("setting.updated") == []


# --- Team -----------------------------------------------------------------------

def test_invite_a_colleague(client, admin, provider):
    r = client.post("/team/invite", data={"full_name": "Ben Ade", "email": "Ben@Riverside.example",
                                          "role": "provider_user"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/team")
    [email] = outbox("ben@riverside.example")
    assert "invited" in email.subject.lower() and "/invitation/" in email.body
    invited = db.session.execute(db.select(User).where(User.email == "ben@riverside.example")).scalar_one()
    assert invited.provider_id == provider.id and invited.role is Role.PROVIDER_USER
    assert invited.invited_by_id == admin.id
    [event] = events("account.invited")
    assert event.provider_id == provider.id and event.actor_id == admin.id

    team = client.get("/team").text
    assert "Ben Ade" in team and "Invited" in team and "Active" in team  # admin is active


def test_invite_with_existing_email_is_an_error(client, admin):
    make_user(email="taken@example.com")
    r = client.post("/team/invite", data={"full_name": "X", "email": "taken@example.com",
                                          "role": "provider_admin"})
    assert r.status_code == 400
    assert "An account with this email address already exists" in r.text
    assert outbox("taken@example.com") == []


def test_invite_validation(client, admin):
    r = client.post("/team/invite", data={"full_name": "", "email": "nope", "role": "admin"})
    assert r.status_code == 400
    for message in ("Enter the person&#39;s full name", "Enter an email address in the correct format",
                    "Select a role"):
        assert message in r.text
    assert outbox() == []


def test_provider_user_cannot_manage_the_team(client, provider):
    login(client, make_user(Role.PROVIDER_USER, provider))
    assert client.get("/team").status_code == 403
    assert client.get("/team/invite").status_code == 403
    r = client.post("/team/invite", data={"full_name": "X", "email": "x@example.com",
                                          "role": "provider_admin"})
    assert r.status_code == 403
    assert outbox() == []


def test_team_lists_only_own_organisation(client, admin):
    make_user(Role.PROVIDER_USER, make_provider(), full_name="Someone Elsewhere")
    assert "Someone Elsewhere" not in client.get("/team").text
