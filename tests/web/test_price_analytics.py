"""Ceiling prices at a glance: the distribution per lot and placement type as
an SVG box plot with the same figures in a table, on any date, and the
prices as CSV and XLSX; member officers see their authority's lots only."""
import csv
import io
from datetime import date, datetime

import pytest
from markupsafe import escape
from openpyxl import load_workbook

from app.domain.prices import NewPrice, replace_prices
from app.domain.states import MembershipStatus, PriceSource, Role
from app.extensions import db
from app.models import AccessAgreement, Authority
from tests.factories import login
from tests.factories_fee_review import D, make_staff, member

NOW = datetime(2026, 6, 1, 12, 0)


@pytest.fixture
def market(dps, time_machine):
    """Five IFAs on Lot 1 (standard 0-4 at 900 to 1,100 since April 2026,
    each £100 less before), one home on Lot 2."""
    time_machine.move_to(NOW)
    lot1, lot2 = dps.lots[0], dps.lots[1]
    ifas = []
    for amount in ("900", "950", "1000", "1050", "1100"):
        provider = member(lot1, weekly=(str(D(amount) - 100),), rates=("20",),
                          since=date(2025, 4, 1))
        replace_prices(provider.id, lot1.id, date(2026, 4, 1),
                       [NewPrice(amount=D(amount), placement_type_id=lot1.placement_types[0].id),
                        NewPrice(amount=D("21"), service_item_id=lot1.service_items[0].id)],
                       source=PriceSource.FEE_REVIEW, source_id=None)
        ifas.append(provider)
    db.session.commit()
    home = member(lot2, weekly=("3800",), rates=())
    gone = member(lot1, weekly=("5000",), rates=(), status=MembershipStatus.REMOVED)
    return {"lot1": lot1, "lot2": lot2, "ifas": ifas, "home": home, "gone": gone}


def _officer_of(lot) -> object:
    authority = Authority(name="London Borough of Havering")
    db.session.add(authority)
    db.session.flush()
    db.session.add(AccessAgreement(authority_id=authority.id, lot_id=lot.id,
                                   annual_fee=D("3150"), starts_on=date(2024, 2, 1),
                                   ends_on=date(2030, 3, 8)))
    db.session.commit()
    return make_staff(Role.MEMBER_OFFICER, authority_id=authority.id)


def _row(page: str, label: str) -> list[str]:
    row = page.split(f'<th scope="row" class="govuk-table__header">{label}</th>')[1]
    row = row.split("</tr>")[0]
    return [cell.split(">", 1)[1].split("</td>")[0].strip() for cell in row.split("<td")[1:]]


def test_the_distribution_is_drawn_and_tabulated(client, market):
    login(client, make_staff(Role.MANAGER))
    page = client.get("/prices/")
    assert page.status_code == 200
    text = page.text
    standard = market["lot1"].placement_types[0].name
    # Removed providers do not count; the quartiles interpolate like percentile_cont.
    assert _row(text, standard) == ["5", "£900.00", "£950.00", "£1,000.00", "£1,050.00",
                                    "£1,100.00"]
    assert _row(text, market["lot2"].placement_types[0].name)[:2] == ["1", "£3,800.00"]
    assert "No provider on this lot has a price for this placement type" in text
    # An accessible chart: role img, named by its title and described by its desc.
    opening = "<svg" + text.split(f'id="prices-lot-{market["lot1"].id}"')[0].rsplit("<svg", 1)[1]
    svg = opening + text.split(f'id="prices-lot-{market["lot1"].id}"')[1].split(">")[0]
    assert 'role="img"' in svg
    assert f'aria-labelledby="prices-lot-{market["lot1"].id}-title' in svg
    chart = text.split(f'id="prices-lot-{market["lot1"].id}"')[1].split("</svg>")[0]
    assert "<title" in chart and "Weekly ceiling prices on Lot 1" in chart
    assert f"{standard}: 5 prices, from £900.00 to £1,100.00, median £1,000.00" in chart
    assert "<rect" in chart and "style=" not in chart  # the CSP forbids inline styles
    assert "<script" not in text.split("<main")[1].split("</main>")[0]


def test_any_past_date_can_be_shown(client, market):
    login(client, make_staff(Role.EVALUATOR))
    page = client.get("/prices/?on=1&on=6&on=2025")
    assert page.status_code == 200
    assert "Prices on 1 June 2025" in page.text
    standard = market["lot1"].placement_types[0].name
    assert _row(page.text, standard)[1:] == ["£800.00", "£850.00", "£900.00", "£950.00",
                                             "£1,000.00"]
    assert "/prices/export.csv?on=2025-06-01" in page.text


def test_an_impossible_date_is_an_error_and_today_is_shown(client, market):
    login(client, make_staff(Role.MANAGER))
    page = client.get("/prices/?on=31&on=2&on=2026")
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text and "must be a real date" in page.text
    assert "Prices on 1 June 2026" in page.text
    assert 'value="31"' in page.text


def test_member_officers_see_only_their_authoritys_lots_read_only(client, market):
    login(client, _officer_of(market["lot2"]))
    page = client.get("/prices/")
    assert page.status_code == 200
    assert str(escape(market["lot2"].title)) in page.text
    assert str(escape(market["lot1"].title)) not in page.text
    assert 'method="post"' not in page.text
    assert client.get(f"/prices/export.csv?lot={market['lot1'].id}").status_code == 404
    rows = client.get("/prices/export.csv").get_data(as_text=True)
    assert market["home"].display_name in rows
    assert all(p.display_name not in rows for p in market["ifas"])


def test_an_officer_without_agreements_sees_no_prices(client, market):
    login(client, make_staff(Role.MEMBER_OFFICER))
    page = client.get("/prices/")
    assert "no access agreement for any lot" in page.text
    rows = client.get("/prices/export.csv").get_data(as_text=True).lstrip("\ufeff")
    assert rows.count("\n") == 1  # the header only


def test_providers_cannot_see_price_analytics(client, market):
    login(client, make_staff(Role.PROVIDER_ADMIN))
    assert client.get("/prices/").status_code == 403
    assert client.get("/prices/export.csv").status_code == 403


def test_current_prices_download_as_streamed_csv_and_xlsx(client, market):
    login(client, make_staff(Role.MANAGER))
    lot1 = market["lot1"]
    response = client.get(f"/prices/export.csv?lot={lot1.id}")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="ceiling-prices-lot-1-2026-06-01.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 10  # five weekly fees and five rates; the removed provider is left out
    first = rows[0]
    assert first["Item"] == lot1.placement_types[0].name and first["Unit"] == "week"
    assert first["Valid from"] == "2026-04-01" and first["Source"] == "Fee review"
    past = client.get(f"/prices/export.csv?lot={lot1.id}&on=2025-06-01").get_data(as_text=True)
    assert "800.00" in past and "1100.00" not in past
    assert client.get("/prices/export.csv?on=yesterday").status_code == 400
    assert client.get("/prices/export.json").status_code == 404
    response = client.get("/prices/export.xlsx")
    assert response.status_code == 200 and response.is_streamed
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    header = values[0]
    assert header[:6] == ("Provider", "Company number", "Lot", "Item", "Unit", "Amount (£)")
    amounts = sorted(row[5] for row in values[1:] if row[4] == "week")
    assert amounts == [900, 950, 1000, 1050, 1100, 3800]
    assert len(values) == 1 + 11
