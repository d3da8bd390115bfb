"""Each section page of a draft application: prefilled GET, saving, errors that
keep what was typed, the version check and the htmx fragments."""
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from app.domain import applications as rules
from app.domain.audit import AuditContext
from app.domain.declarations import GROUNDS
from app.domain.reference import OfstedJudgement, SettingType
from app.extensions import db
from app.models import Application
from tests.factories import login, make_provider, make_setting, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def user(dps):
    return make_user(provider=make_provider(), full_name="Amira Khan")


@pytest.fixture
def draft(dps, user, client):
    application = rules.start_application(AuditContext(actor_id=user.id), user.provider, user,
                                          [dps.lots[0]], rules.today())
    db.session.commit()
    login(client, user)
    return application


def fresh(application) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application.id)


def post(client, application, section, data, **kw):
    data = {"version": str(fresh(application).version), **data}
    return client.post(f"/applications/{application.id}/{section}", data=data, **kw)


def placement_types(application):
    return application.lots[0].lot.placement_types


# ------------------------------------------------------------------ organisation

def test_organisation_summary_change_links_and_confirm(client, draft):
    r = client.get(f"/applications/{draft.id}/organisation")
    html = r.data.decode()
    assert r.status_code == 200 and draft.provider.legal_name in html
    link = next(part for part in html.split('href="')[1:] if part.startswith("/organisation/edit"))
    query = parse_qs(urlparse(link.split('"')[0].replace("&amp;", "&")).query)
    assert query["next"] == [f"/applications/{draft.id}/organisation"]
    r = post(client, draft, "organisation", {})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/applications/{draft.id}")
    assert fresh(draft).organisation_confirmed_at is not None
    html = client.get(r.headers["Location"]).data.decode()
    assert "Organisation details: your answers are saved" in html


def test_organisation_with_missing_details_cannot_be_confirmed(client, draft):
    draft.provider.contact_phone = ""
    db.session.commit()
    r = post(client, draft, "organisation", {})
    assert r.status_code == 400
    assert "Complete your organisation details before confirming them: contact telephone number" \
        in r.data.decode()
    assert fresh(draft).organisation_confirmed_at is None


# ------------------------------------------------------------------ declarations

def _all_no():
    return {f"ground_{g.code}": "no" for g in GROUNDS}


def test_declarations_save_and_prefill(client, draft):
    html = client.get(f"/applications/{draft.id}/declarations").data.decode()
    assert "Mandatory exclusion grounds" in html and "Discretionary exclusion grounds" in html
    assert html.index("Mandatory") < html.index(GROUNDS[0].question) < html.index("Discretionary")
    # The explanation is revealed under "Yes" (and shown anyway without JavaScript).
    assert 'data-aria-controls="conditional-ground_corruption"' in html
    assert 'id="conditional-ground_corruption"' in html and 'name="explanation_corruption"' in html
    data = {**_all_no(), "ground_insolvency": "yes",
            "explanation_insolvency": "A CVA agreed in 2023 and completed in full."}
    r = post(client, draft, "declarations", data)
    assert r.status_code == 303
    saved = {d.ground: d for d in fresh(draft).declaration_answers}
    assert len(saved) == len(GROUNDS) and saved["insolvency"].answer is True
    assert saved["corruption"].explanation == ""
    html = client.get(f"/applications/{draft.id}/declarations").data.decode()
    assert "A CVA agreed in 2023" in html
    assert rules.declarations_status(fresh(draft), rules.answers(fresh(draft))).value == "Completed"


def test_declarations_yes_needs_explanation_and_every_ground_an_answer(client, draft):
    data = {"ground_corruption": "no", "ground_tax_evasion": "yes", "explanation_tax_evasion": " "}
    r = post(client, draft, "declarations", data)
    html = r.data.decode()
    assert r.status_code == 400
    assert "Explain the measures you have taken about tax evasion" in html
    assert "Select yes or no for insolvency" in html
    assert 'href="#explanation_tax_evasion"' in html
    # The answers given are kept as a draft; the section stays in progress.
    saved = {d.ground: d.answer for d in fresh(draft).declaration_answers}
    assert saved == {"corruption": False, "tax_evasion": True}
    assert "We have saved the answers that are correct" in html


# ------------------------------------------------------------------ lots and settings

def test_lot_settings_choose_fitting_settings(client, draft):
    good = make_setting(draft.provider, name="Brightwater East")
    make_setting(draft.provider, name="Oakfield House", setting_type=SettingType.CHILDRENS_HOME)
    html = client.get(f"/applications/{draft.id}/lots").data.decode()
    assert "Brightwater East" in html and "Oakfield House" not in html
    assert "/settings/new?next=" in html and "Change the lots you are applying for" in html
    lot = draft.lots[0].lot
    r = post(client, draft, "lots", {f"settings_{lot.id}": str(good.id)})
    assert r.status_code == 303
    assert fresh(draft).lots[0].setting_ids == {good.id}


def test_lot_settings_refuse_a_setting_below_the_ofsted_minimum(client, draft):
    weak = make_setting(draft.provider, name="Elm Branch",
                        ofsted_judgement=OfstedJudgement.REQUIRES_IMPROVEMENT)
    lot = draft.lots[0].lot
    html = client.get(f"/applications/{draft.id}/lots").data.decode()
    assert "below this lot&#39;s minimum" in html
    r = post(client, draft, "lots", {f"settings_{lot.id}": str(weak.id)})
    assert r.status_code == 400
    html = r.data.decode()
    assert ("Elm Branch cannot be offered under Lot 1: Independent fostering: its Ofsted "
            "judgement (Requires improvement to be good) is below the minimum of Good") in html
    assert fresh(draft).lots[0].setting_ids == set()
    r = post(client, draft, "lots", {})
    assert r.status_code == 400
    assert "Select at least one setting for Lot 1: Independent fostering" in r.data.decode()


def test_lot_settings_refuse_another_providers_setting(client, draft):
    theirs = make_setting(make_provider())
    lot = draft.lots[0].lot
    r = post(client, draft, "lots", {f"settings_{lot.id}": str(theirs.id)})
    assert r.status_code == 400
    assert fresh(draft).lots[0].setting_ids == set()


def test_change_lots_adds_and_removes_lots(client, draft, dps):
    html = client.get(f"/applications/{draft.id}/lots/change").data.decode()
    assert "Lot 4: Independent special schools" in html
    r = post(client, draft, "lots/change", {"lots": [str(dps.lots[0].id), str(dps.lots[1].id)]})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/applications/{draft.id}/lots")
    assert [alot.lot.number for alot in fresh(draft).lots] == [1, 2]
    lot2 = fresh(draft).lots[1].lot
    post(client, draft, "prices", {f"price_{lot2.placement_types[0].id}": "3463"})
    r = post(client, draft, "lots/change", {"lots": [str(dps.lots[0].id)]})
    assert r.status_code == 303
    application = fresh(draft)
    assert [alot.lot.number for alot in application.lots] == [1]
    assert application.ceiling_prices == []
    r = post(client, draft, "lots/change", {})
    assert r.status_code == 400 and "Select at least one lot" in r.data.decode()


def test_change_lots_refuses_a_lot_of_another_active_application(client, draft, dps, user):
    rules.start_application(AuditContext(), user.provider, user, [dps.lots[2]], rules.today())
    db.session.commit()
    html = client.get(f"/applications/{draft.id}/lots/change").data.decode()
    assert "You already have another application for this lot" in html
    r = post(client, draft, "lots/change", {"lots": [str(dps.lots[0].id), str(dps.lots[2].id)]})
    assert r.status_code == 400
    assert "You already have a draft application for Lot 3" in r.data.decode()
    assert [alot.lot.number for alot in fresh(draft).lots] == [1]


# ------------------------------------------------------------------ prices

def test_prices_accept_pounds_and_pence(client, draft):
    types = placement_types(draft)
    data = {f"price_{pt.id}": "846" for pt in types}
    data[f"price_{types[0].id}"] = "1,250"
    data[f"price_{types[1].id}"] = "£1250.50"
    r = post(client, draft, "prices", data)
    assert r.status_code == 303
    saved = rules.answers(fresh(draft)).prices
    assert saved[types[0].id] == Decimal("1250.00") and saved[types[1].id] == Decimal("1250.50")
    html = client.get(f"/applications/{draft.id}/prices").data.decode()
    assert 'value="1250.50"' in html and "per week" in html


def test_price_errors_keep_input_and_save_valid_rows(client, draft):
    types = placement_types(draft)
    names = [pt.name for pt in types]
    data = {f"price_{types[0].id}": "925", f"price_{types[1].id}": "",
            f"price_{types[2].id}": "0", f"price_{types[3].id}": "lots",
            f"price_{types[4].id}": "25000.01", f"price_{types[5].id}": "1000.505"}
    r = post(client, draft, "prices", data)
    html = r.data.decode().replace("&#39;", "'")
    assert r.status_code == 400
    assert f"Enter a weekly price for {names[1]}" in html
    assert f"Weekly price for {names[2]} must be more than £0" in html
    assert (f"Weekly price for {names[3]} must be an amount in pounds and pence, "
            "like 1250.00") in html
    assert f"Weekly price for {names[4]} must be £25,000 or less" in html
    assert f"Weekly price for {names[5]} must be an amount in pounds and pence" in html
    assert 'value="lots"' in html and 'value="1000.505"' in html
    assert rules.answers(fresh(draft)).prices == {types[0].id: Decimal("925.00")}
    # The page carries the version after our own partial save, so saving again works.
    data = {f"price_{pt.id}": "900" for pt in types}
    r = client.post(f"/applications/{draft.id}/prices",
                    data={**data, "version": _hidden_version(html)})
    assert r.status_code == 303


def _hidden_version(html: str) -> str:
    return html.split('name="version" type="hidden" value="')[1].split('"')[0]


def test_version_conflict_refuses_and_keeps_input(client, draft, user):
    html = client.get(f"/applications/{draft.id}/prices").data.decode()
    opened = _hidden_version(html)
    # A colleague saves meanwhile.
    rules.confirm_organisation(AuditContext(actor_id=user.id), fresh(draft))
    db.session.commit()
    pt = placement_types(draft)[0]
    r = client.post(f"/applications/{draft.id}/prices",
                    data={"version": opened, f"price_{pt.id}": "999"})
    html = r.data.decode()
    assert r.status_code == 409
    assert ("This application has been changed by someone else since you opened this page. "
            "Your changes have not been saved.") in html
    assert 'value="999"' in html
    assert rules.answers(fresh(draft)).prices == {}
    assert _hidden_version(html) == str(fresh(draft).version)


def test_every_section_form_checks_the_version(client, draft):
    for section in ("organisation", "declarations", "lots", "lots/change", "prices", "services",
                    "terms", "quality"):
        version = fresh(draft).version
        r = client.post(f"/applications/{draft.id}/{section}", data={"version": "0"})
        assert r.status_code == 409, section
        assert fresh(draft).version == version


# ------------------------------------------------------------------ services

def test_services_blank_means_not_offered_and_custom_items_save(client, draft):
    items = draft.lots[0].lot.service_items
    r = post(client, draft, "services", {
        f"rate_{items[0].id}": "28.50", f"rate_{items[1].id}": "",
        "custom-0-lot": str(draft.lots[0].lot_id), "custom-0-name": "Life story work",
        "custom-0-unit": "session", "custom-0-rate": "95",
        "custom-1-lot": str(draft.lots[0].lot_id), "custom-1-name": "", "custom-1-unit": "",
        "custom-1-rate": ""})
    assert r.status_code == 303
    application = fresh(draft)
    saved = rules.answers(application)
    assert saved.rates == {items[0].id: Decimal("28.50")}
    assert [(r.custom_name, r.custom_unit.value, r.rate) for r in saved.custom] == \
        [("Life story work", "session", Decimal("95.00"))]
    assert rules.services_status(application, saved).value == "Completed"
    html = client.get(f"/applications/{draft.id}/services").data.decode()
    assert 'value="Life story work"' in html and 'value="28.50"' in html


def test_services_errors(client, draft):
    items = draft.lots[0].lot.service_items
    r = post(client, draft, "services", {
        f"rate_{items[0].id}": "5000.01", f"rate_{items[1].id}": "-1",
        "custom-0-lot": str(draft.lots[0].lot_id), "custom-0-name": "Sleep-in cover",
        "custom-0-unit": "", "custom-0-rate": "abc",
        "custom-1-lot": str(draft.lots[0].lot_id), "custom-1-name": "",
        "custom-1-unit": "hour", "custom-1-rate": "20"})
    html = r.data.decode()
    assert r.status_code == 400
    assert f"Rate for {items[0].name} must be £5,000 or less" in html
    assert f"Rate for {items[1].name} must be more than £0" in html
    assert "Select a unit for Sleep-in cover" in html
    assert "Rate for Sleep-in cover must be an amount in pounds and pence" in html
    assert "Enter the name of item 2" in html
    assert 'value="Sleep-in cover"' in html
    assert fresh(draft).services_saved_at is None


def test_add_and_remove_item_rows_without_javascript(client, draft):
    lot_id = str(draft.lots[0].lot_id)
    r = post(client, draft, "services", {"action": "add"})
    html = r.data.decode()
    assert r.status_code == 200 and "<html" in html
    assert 'name="custom-0-name"' in html and "Item 1" in html
    r = post(client, draft, "services", {
        "action": "add", "custom-0-lot": lot_id, "custom-0-name": "Life story work",
        "custom-0-unit": "session", "custom-0-rate": "95"})
    html = r.data.decode()
    assert 'value="Life story work"' in html and 'name="custom-1-name"' in html
    r = post(client, draft, "services", {
        "action": "remove-0", "custom-0-lot": lot_id, "custom-0-name": "Life story work",
        "custom-0-unit": "session", "custom-0-rate": "95",
        "custom-1-lot": lot_id, "custom-1-name": "Keep me", "custom-1-unit": "hour",
        "custom-1-rate": "20"})
    html = r.data.decode()
    assert "Life story work" not in html and 'value="Keep me"' in html
    assert fresh(draft).service_rates == []  # adding and removing rows saves nothing


def test_add_item_with_htmx_returns_only_the_form(client, draft):
    r = post(client, draft, "services", {"action": "add"},
             headers={**HX, "HX-Target": "services-form"})
    html = r.data.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith('<form id="services-form"') and "<html" not in html
    assert 'name="custom-0-name"' in html and 'hx-post=' in html
    assert "HX-Request" in r.headers["Vary"]


# ------------------------------------------------------------------ terms

def test_terms_must_be_accepted_for_each_lot(client, draft, user):
    html = client.get(f"/applications/{draft.id}/terms").data.decode()
    assert "Sibling discount of 5%" in html and "No retainer is payable" in html
    r = post(client, draft, "terms", {})
    assert r.status_code == 400
    assert "Accept the standard terms for Lot 1: Independent fostering" in r.data.decode()
    lot = draft.lots[0].lot
    r = post(client, draft, "terms", {f"accept_{lot.id}": "y"})
    assert r.status_code == 303
    alot = fresh(draft).lots[0]
    assert alot.terms_accepted_at is not None and alot.terms_accepted_by_id == user.id


# ------------------------------------------------------------------ evidence

def test_evidence_lists_problems_with_upload_links(client, draft):
    setting = make_setting(draft.provider, name="Brightwater East")
    rules.save_lot_settings(AuditContext(), fresh(draft), {draft.lots[0].lot_id: [setting]})
    db.session.commit()
    r = client.get(f"/applications/{draft.id}/evidence")
    html = r.data.decode().replace("&amp;", "&")
    assert r.status_code == 200
    assert "Upload your public liability insurance" in html
    assert "Upload the Ofsted registration certificate for Brightwater East" in html
    assert (f"/evidence/upload?kind=ofsted_certificate&setting_id={setting.id}"
            f"&next=/applications/{draft.id}/evidence") in html.replace("%2F", "/")


# ------------------------------------------------------------------ quality

def test_quality_answers_word_limits(client, draft):
    questions = draft.lots[0].lot.quality_questions
    html = client.get(f"/applications/{draft.id}/quality").data.decode()
    assert "You have 500 words remaining" in html and 'hx-post="' in html
    assert f'id="word-count-{questions[0].id}"' in html
    data = {f"answer_{q.id}": "We keep children safe. " for q in questions}
    data[f"answer_{questions[0].id}"] = "word " * 501
    data[f"answer_{questions[1].id}"] = ""
    r = post(client, draft, "quality", data)
    html = r.data.decode()
    assert r.status_code == 400
    assert "Answer to Safeguarding must be 500 words or fewer" in html
    assert "Enter your answer to Outcomes" in html
    assert "You have 1 word too many" in html
    # Over-long answers are kept as a draft, so nothing typed is lost.
    saved = rules.answers(fresh(draft)).quality
    assert len(saved[questions[0].id].split()) == 501 and questions[1].id not in saved
    data = {f"answer_{q.id}": "We keep children safe. " for q in questions}
    assert post(client, draft, "quality", data).status_code == 303


def test_word_count_fragment_for_htmx(client, draft):
    q = draft.lots[0].lot.quality_questions[3]
    url = f"/applications/{draft.id}/quality/{q.id}/word-count"
    r = client.post(url, data={f"answer_{q.id}": "one two three"},
                    headers={**HX, "HX-Target": f"word-count-{q.id}"})
    html = r.data.decode().strip()
    assert r.status_code == 200
    assert html.startswith(f'<p id="word-count-{q.id}"') and "<html" not in html
    assert f"You have {q.word_limit - 3} words remaining" in html
    r = client.post(url, data={f"answer_{q.id}": "w " * (q.word_limit + 2)}, headers=HX)
    html = r.data.decode()
    assert "You have 2 words too many" in html and "app-word-count--over" in html
    # Without htmx there is nothing to count live: back to the page.
    assert client.post(url, data={}).status_code == 303
    # A question of a lot not applied for is not found.
    other = [lot for lot in draft.dps.lots if lot.number == 2][0].quality_questions[0]
    r = client.post(f"/applications/{draft.id}/quality/{other.id}/word-count", headers=HX)
    assert r.status_code == 404
