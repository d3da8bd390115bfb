"""The directory through the browser's eyes (Flask test client): the GET
form with and without htmx, member officers held to their authority's lots,
suspended providers hidden or marked, pagination that keeps the filters, the
streamed CSV export and a bounded number of queries."""
import csv
import io
import re
from html import unescape
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.domain import audit
from app.domain.applications import today
from app.domain.reference import Gender, SettingType
from app.domain.states import MembershipStatus, PriceSource, Role, SuspensionReason
from app.domain.suspensions import suspend
from app.extensions import db
from app.models import AccessAgreement, Authority, Membership, Price
from tests.factories import login, make_provider, make_setting
from tests.factories_evaluation import quick_user

HX = {"HX-Request": "true", "HX-Target": "directory-results"}


def add_home(lot, name, postcode, price=None, *, status=MembershipStatus.ACTIVE, **setting):
    provider = make_provider(legal_name=f"{name} Ltd", trading_name=name)
    make_setting(provider, name=f"{name} House", setting_type=SettingType.CHILDRENS_HOME,
                 postcode=postcode, age_min=8, age_max=17, **setting)
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, status=status,
                              started_on=today() - timedelta(days=400)))
    if price is not None:
        db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                             placement_type_id=lot.placement_types[0].id, amount=Decimal(price),
                             valid_from=today() - timedelta(days=30),
                             source=PriceSource.APPLICATION))
    db.session.commit()
    return provider


def names(html: str) -> list[str]:
    """Provider names in the results table, in order."""
    return re.findall(r'govuk-!-font-weight-bold"(?: href="[^"]*")?>([^<]+)<', html)


def officer_of(lots, name="Barking and Dagenham"):
    authority = Authority(name=name)
    db.session.add(authority)
    db.session.flush()
    for lot in lots:
        db.session.add(AccessAgreement(authority_id=authority.id, lot_id=lot.id,
                                       annual_fee=Decimal("3150"),
                                       starts_on=today() - timedelta(days=30),
                                       ends_on=today() + timedelta(days=335)))
    db.session.commit()
    return quick_user(Role.MEMBER_OFFICER, authority_id=authority.id)


@pytest.fixture
def lot2(dps):
    return dps.lots[1]


@pytest.fixture
def homes(dps, lot2):
    """Lot 2 homes near Harrow and further out, and a Lot 3 service the
    member officer's authority has no agreement for."""
    add_home(lot2, "Harrow Hill", "HA1 1AA", "3400")
    add_home(lot2, "Pinner View", "HA2 0AA", "3200", gender=Gender.FEMALE)
    add_home(lot2, "Stratford Lodge", "E15 4QZ", "3600")
    add_home(lot2, "Romford Gate", "RM3 7JS", "2900")
    suspended = add_home(lot2, "Suspended Homes", "HA1 2AA", "2500")
    suspend(audit.SYSTEM, suspended, reason=SuspensionReason.SAFEGUARDING,
            description="Serious safeguarding shortfalls", starts_on=today(), lot=lot2)
    add_home(lot2, "Removed Homes", "HA1 3AA", "2400", status=MembershipStatus.REMOVED)
    lot3 = dps.lots[2]
    provider = make_provider(legal_name="Secret Lot Three Ltd", trading_name="Secret Lot Three")
    make_setting(provider, name="Lot Three Flats", setting_type=SettingType.SUPPORTED_ACCOMMODATION,
                 postcode="HA1 4AA", age_min=16, age_max=17)
    db.session.add(Membership(provider_id=provider.id, lot_id=lot3.id, started_on=today()))
    db.session.commit()
    return suspended


@pytest.fixture
def officer(client, dps, lot2):
    user = officer_of([dps.lots[0], lot2])
    login(client, user)
    return user


@pytest.fixture
def commissioner(client, dps):
    user = quick_user(Role.EVALUATOR)
    login(client, user)
    return user


def test_a_member_officer_finds_homes_near_harrow_cheapest_first(client, officer, lot2, homes):
    r = client.get(f"/directory/?lot={lot2.id}&postcode=ha1&radius=20&sort=price")
    html = r.data.decode()
    assert r.status_code == 200
    assert names(html) == ["Pinner View", "Harrow Hill", "Stratford Lodge"]
    assert "Showing 1 to 3 of 3 settings within 20 miles of HA1" in html
    assert "£3,200.00" in html and "1.0 miles" in html and "14.9 miles" in html
    # Officers see no suspended provider, no way to ask for them, no staff link.
    assert "Suspended Homes" not in html and "Removed Homes" not in html
    assert "Show suspended" not in html and "/staff/providers/" not in html
    assert "show_suspended" not in html
    html = client.get(f"/directory/?lot={lot2.id}&postcode=HA1&sort=distance"
                      "&show_suspended=y").data.decode()
    assert names(html) == ["Harrow Hill", "Pinner View", "Stratford Lodge"]


def test_the_lot_list_holds_only_the_authoritys_lots(client, officer, dps, homes):
    html = client.get("/directory/").data.decode()
    options = re.findall(r'<option value="(\d+)"[^>]*>(Lot \d: [^<]+)</option>', html)
    assert [unescape(title) for _, title in options] == [dps.lots[0].title, dps.lots[1].title]
    # The first visible lot is chosen until the officer picks another.
    assert f'<option value="{dps.lots[0].id}" selected>' in html


@pytest.mark.parametrize("url", ["/directory/?lot={lot}", "/directory/export.csv?lot={lot}"])
def test_a_lot_outside_the_agreements_is_refused_without_showing_it(client, officer, dps, homes,
                                                                    url):
    lot3 = dps.lots[2]
    r = client.get(url.format(lot=lot3.id) + "&postcode=HA1")
    html = r.data.decode()
    assert r.status_code == 400
    assert "Select a lot from the list" in html
    for secret in ("Secret Lot Three", "Lot Three Flats", lot3.name,
                   lot3.placement_types[0].name):
        assert secret not in html
    assert client.get("/directory/?lot=not-a-lot").status_code == 400


def test_an_officer_whose_authority_has_no_agreement_is_told_so(client, dps, homes):
    login(client, officer_of([], name="Havering"))
    r = client.get("/directory/")
    assert r.status_code == 200
    assert "Your authority has no access to any lots" in r.data.decode()
    assert names(r.data.decode()) == []
    assert client.get(f"/directory/export.csv?lot={dps.lots[1].id}").status_code == 400


def test_a_commissioner_can_see_suspended_providers_marked_and_last(client, commissioner, lot2,
                                                                   homes):
    html = client.get(f"/directory/?lot={lot2.id}&postcode=HA1").data.decode()
    assert "Show suspended providers and settings (staff only)" in html
    assert "Suspended Homes" not in html
    html = client.get(f"/directory/?lot={lot2.id}&postcode=HA1&show_suspended=y").data.decode()
    assert names(html) == ["Pinner View", "Harrow Hill", "Stratford Lodge", "Suspended Homes"]
    assert html.count('govuk-tag--red">Suspended</strong>') == 1
    assert f'href="/staff/providers/{homes.id}"' in html
    assert "Removed Homes" not in html


def test_a_provider_cannot_search(client, dps):
    provider = make_provider()
    login(client, quick_user(Role.PROVIDER_ADMIN, provider))
    assert client.get("/directory/").status_code == 403
    assert client.get("/directory/export.csv").status_code == 403


def test_htmx_search_returns_only_the_results_and_the_lots_placement_types(client, officer,
                                                                           lot2, homes, dps):
    r = client.get(f"/directory/?lot={lot2.id}&postcode=HA1&sort=price", headers=HX)
    html = r.data.decode().strip()
    assert r.status_code == 200 and html.startswith('<div id="directory-results">')
    assert "<html" not in html and "<h1" not in html and "<form" not in html
    assert names(html) == ["Pinner View", "Harrow Hill", "Stratford Lodge"]
    # The placement types follow the lot, out of band.
    assert '<div id="placement-type-field" hx-swap-oob="true">' in html
    assert lot2.placement_types[0].name in html
    assert dps.lots[0].placement_types[0].name not in html
    # The plain page carries the same fragment and the htmx form.
    page = client.get(f"/directory/?lot={lot2.id}&postcode=HA1").data.decode()
    assert '<div id="directory-results">' in page and 'hx-target="#directory-results"' in page
    assert 'hx-push-url="true"' in page and 'hx-swap-oob' not in page


def test_a_placement_type_of_another_lot_falls_back_to_the_lots_first(client, officer, dps,
                                                                      lot2, homes):
    r = client.get(f"/directory/?lot={lot2.id}&placement_type={dps.lots[0].placement_types[2].id}")
    html = r.data.decode()
    assert r.status_code == 200
    assert f'<option value="{lot2.placement_types[0].id}" selected>' in html
    assert "Cheapest first for Residential (single-bed home)" in html


def test_an_unknown_postcode_is_a_govuk_error(client, officer, lot2, homes):
    r = client.get(f"/directory/?lot={lot2.id}&postcode=ZZ99+9ZZ")
    html = r.data.decode()
    assert r.status_code == 400
    assert "There is a problem" in html
    # In the error summary, by the field and in the results.
    assert html.count("Enter a real postcode, like HA1 1AA") == 3
    assert 'value="ZZ99 9ZZ"' in html  # what they typed is kept
    assert names(html) == []
    r = client.get(f"/directory/?lot={lot2.id}&postcode=nowhere&age=ten", headers=HX)
    html = r.data.decode()
    assert r.status_code == 400 and html.strip().startswith('<div id="directory-results">')
    assert "Enter a real postcode, like HA1 1AA" in html
    assert "Age must be a whole number, like 14" in html


def test_sorting_by_distance_needs_a_postcode(client, officer, lot2, homes):
    r = client.get(f"/directory/?lot={lot2.id}&sort=distance")
    assert r.status_code == 400
    assert "Enter a postcode to sort by distance" in r.data.decode()


def test_filters_from_the_form(client, officer, lot2, homes):
    def shown(query):
        return names(client.get(f"/directory/?lot={lot2.id}&{query}").data.decode())
    assert shown("gender=male") == ["Romford Gate", "Harrow Hill", "Stratford Lodge"]
    assert shown("gender=female&postcode=HA1+1AA&radius=5") == ["Pinner View", "Harrow Hill"]
    assert shown("age=18") == []
    assert shown("judgement=outstanding") == []
    assert shown("specialisms=autism") == []
    html = client.get(f"/directory/?lot={lot2.id}&judgement=good&specialisms=autism"
                      "&specialisms=remand&age=12").data.decode()
    assert '<option value="good" selected>' in html and 'value="12"' in html
    ticked = re.findall(r'name="specialisms" type="checkbox" value="(\w+)" checked', html)
    assert ticked == ["autism", "remand"]  # both specialisms stay ticked


def _more_homes(lot, n, start=0):
    for i in range(start, start + n):
        add_home(lot, f"Home {i:02d}", "HA1 1AA", str(3000 + i))


def test_pages_keep_every_filter(client, officer, lot2):
    _more_homes(lot2, 23)
    query = f"lot={lot2.id}&postcode=HA1&radius=10&sort=price&gender=female&age=9"
    html = client.get(f"/directory/?{query}").data.decode()
    assert len(names(html)) == 20 and names(html)[0] == "Home 00"
    assert "Showing 1 to 20 of 23 settings" in html
    next_link = re.search(r'href="([^"]*page=2[^"]*)"', html).group(1).replace("&amp;", "&")
    for param in ("postcode=HA1", "radius=10", "sort=price", "gender=female", "age=9",
                  f"lot={lot2.id}"):
        assert param in next_link
    html = client.get(next_link).data.decode()
    assert names(html) == ["Home 20", "Home 21", "Home 22"]
    assert "Showing 21 to 23 of 23 settings" in html


def test_csv_export_streams_every_matching_row(client, officer, lot2, homes):
    _more_homes(lot2, 22)
    r = client.get(f"/directory/export.csv?lot={lot2.id}&postcode=HA1&radius=20&sort=price")
    assert r.status_code == 200 and r.is_streamed
    assert r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="approved-providers-lot-2-{today().isoformat()}.csv"')
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Provider", "Company number", "Setting", "Ofsted URN"]
    assert header[-4:] == ["Weekly ceiling price (£)", "Compliance", "Open concerns", "Suspended"]
    assert len(body) == 25  # every page, not just the first 20
    first = dict(zip(header, body[0]))
    assert first["Provider"] == "Home 00" and first["Weekly ceiling price (£)"] == "3000.00"
    assert first["Distance (miles)"] == "0.0" and first["Outcode"] == "HA1"
    assert first["Lot"] == lot2.title
    assert first["Placement type"] == "Residential (single-bed home)"
    assert (first["Compliance"], first["Open concerns"], first["Suspended"]) == (
        "Compliant", "0", "No")
    assert not any("Suspended Homes" in row or "Romford Gate" in row for row in body)
    # The results page links to the same search as CSV.
    html = client.get(f"/directory/?lot={lot2.id}&postcode=HA1").data.decode()
    assert f'href="/directory/export.csv?lot={lot2.id}&amp;postcode=HA1"' in html


def test_csv_cells_never_start_a_formula(client, commissioner, lot2):
    add_home(lot2, "=HYPERLINK(\"http://x\")", "HA1 1AA", "3000")
    body = client.get(f"/directory/export.csv?lot={lot2.id}").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in body


@contextmanager
def _counting_queries():
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def test_queries_do_not_grow_with_the_results(client, officer, lot2):
    query = f"/directory/?lot={lot2.id}&postcode=HA1&specialisms=autism"
    _more_homes(lot2, 2)
    with _counting_queries() as few:
        assert len(names(client.get(query.replace("&specialisms=autism", "")).data.decode())) == 2
    _more_homes(lot2, 25, start=2)
    with _counting_queries() as many:
        assert len(names(client.get(query.replace("&specialisms=autism", "")).data.decode())) == 20
    assert len(many) == len(few) <= 7
