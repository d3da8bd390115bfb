"""A round's report as a commissioner reads it (invited, responded, agreed,
requested and agreed uplift, cost avoidance per lot and overall, the annual
figure over the placement weeks they enter) and the round's downloads."""
import csv
import io

import pytest
from openpyxl import load_workbook

from app.domain import fee_review
from app.domain.states import LineDecision, Role
from app.extensions import db
from tests.factories import login
from tests.factories_fee_review_staff import (DURING, D, ctx_for, make_staff, member, propose,
                                              provider_admin, running_round, submission_of)


@pytest.fixture
def finished(dps, time_machine):
    """Lot 1: Ashford asks 1,080 and 1,040 on 1,000 and 1,000, agrees 1,040 and
    1,040 after a counter-offer; Bexley does not respond. Lot 2: Carlow asks
    4,000 on 3,800, rejected (3,800 stands)."""
    time_machine.move_to(DURING)
    manager = make_staff(Role.MANAGER)
    lot1, lot2 = dps.lots[0], dps.lots[1]
    ashford = member(lot1, weekly=("1000", "1000"), rates=("20",))
    bexley = member(lot1, weekly=("990",), rates=())
    carlow = member(lot2, weekly=("3800",), rates=())
    round_ = running_round(dps, manager, [lot1, lot2])
    a = propose(round_, ashford, ["1080", "1040", None])
    lines = a.lines
    fee_review.decide_lines(a, {
        lines[0].id: fee_review.DecisionInput(LineDecision.COUNTERED, D("1040"), "Within 4%"),
        lines[1].id: fee_review.DecisionInput(LineDecision.ACCEPTED)}, manager,
        ctx_for(manager))
    db.session.commit()
    admin = provider_admin(ashford)
    fee_review.respond_to_counters(a, {lines[0].id: fee_review.ResponseInput(accept=True)}, "",
                                   admin, ctx_for(admin), DURING.date())
    db.session.commit()
    c = propose(round_, carlow, ["4000"])
    fee_review.decide_lines(c, {c.lines[0].id: fee_review.DecisionInput(
        LineDecision.REJECTED, None, "The budget does not allow it")}, manager,
        ctx_for(manager))
    db.session.commit()
    return {"round": round_, "manager": manager, "ashford": ashford, "bexley": bexley,
            "carlow": carlow, "lot1": lot1, "lot2": lot2}


def _cells(page: str, label: str) -> list[str]:
    """The figures of a report row (lot 1, lot 2, overall), as text."""
    row = page.split(f'<th scope="row" class="govuk-table__header">{label}</th>')[1]
    row = row.split("</tr>")[0]
    return [cell.split(">", 1)[1].split("</td>")[0].strip()
            for cell in row.split("<td")[1:]]


def test_the_report_shows_requested_and_agreed_uplift_and_cost_avoidance(client, finished):
    assert submission_of(finished["round"], finished["ashford"]).agreed_total == D("2080")
    login(client, finished["manager"])
    page = client.get(f"/fee-reviews/{finished['round'].id}/report")
    assert page.status_code == 200
    text = page.text
    assert _cells(text, "Providers invited") == ["2", "1", "3"]
    assert _cells(text, "Responded (submitted a proposal)") == ["1", "1", "2"]
    assert _cells(text, "Agreed") == ["1", "1", "2"]
    # 2,120 asked on 2,000 (6 %); 4,000 on 3,800 (5.26 %); overall 6,120 on 5,800.
    assert _cells(text, "Requested uplift (providers that responded)") == ["6.00%", "5.26%", "5.52%"]
    # 2,080 agreed on 2,000 (4 %); 3,800 on 3,800; overall 5,880 on 5,800.
    assert _cells(text, "Agreed uplift (agreed providers)") == ["4.00%", "0.00%", "1.38%"]
    # (2,120 - 2,080) / 2,120; (4,000 - 3,800) / 4,000; 240 / 6,120.
    assert _cells(text, "Cost avoidance: requested minus agreed, as a share of requested") == [
        "1.89%", "5.00%", "3.92%"]
    assert _cells(text, "Cost avoidance a week, over agreed weekly fees") == [
        "£40.00", "£200.00", "£240.00"]
    # Default volume: 52 weeks for each agreed weekly fee (2 on lot 1, 1 on lot 2).
    assert _cells(text, "Annual placement weeks") == ["104", "52", "156"]
    assert "Lot 1: Independent fostering: 52 × 2 = 104" in text
    # £40 / 2 fees x 104 weeks; £200 / 1 x 52; the sum.
    assert _cells(text, "Cost avoidance a year") == ["£2,080.00", "£10,400.00", "£12,480.00"]


def test_the_commissioner_enters_annual_placement_weeks(client, finished):
    login(client, finished["manager"])
    lot1, lot2 = finished["lot1"], finished["lot2"]
    url = f"/fee-reviews/{finished['round'].id}/report"
    text = client.get(f"{url}?weeks-{lot1.id}=520&weeks-{lot2.id}=1,000").text
    assert "Placement weeks for Lot 2 must be a whole number" in text
    page = client.get(f"{url}?weeks-{lot1.id}=520&weeks-{lot2.id}=260")
    assert page.status_code == 200
    assert _cells(page.text, "Annual placement weeks") == ["520", "260", "780"]
    # £20 a week per agreed fee x 520; £200 x 260.
    assert _cells(page.text, "Cost avoidance a year") == ["£10,400.00", "£52,000.00",
                                                         "£62,400.00"]
    bad = client.get(f"{url}?weeks-{lot1.id}=lots")
    assert bad.status_code == 400 and "govuk-error-summary" in bad.text
    assert _cells(bad.text, "Annual placement weeks")[0] == "104"  # the default, meanwhile


def test_the_round_downloads_as_csv_and_xlsx(client, finished):
    login(client, finished["manager"])
    round_id = finished["round"].id
    response = client.get(f"/fee-reviews/{round_id}/submissions.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    ashford = [r for r in rows if r["Provider"] == finished["ashford"].display_name]
    assert [(r["Current (£)"], r["Requested (£)"], r["Uplift (%)"], r["Decision"],
             r["Counter-offer (£)"], r["Agreed (£)"]) for r in ashford] == [
        ("1000.00", "1080.00", "8.00", "Counter-offer accepted", "1040.00", "1040.00"),
        ("1000.00", "1040.00", "4.00", "Accepted", "", "1040.00"),
        ("20.00", "20.00", "0.00", "Accepted", "", "20.00")]
    bexley = [r for r in rows if r["Provider"] == finished["bexley"].display_name]
    assert [(r["Requested (£)"], r["Decision"], r["Status"]) for r in bexley] == [
        ("", "", "Not started")]
    response = client.get(f"/fee-reviews/{round_id}/submissions.xlsx")
    assert response.status_code == 200 and response.is_streamed
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    header = values[0]
    carlow = [dict(zip(header, v)) for v in values[1:]
              if v[0] == finished["carlow"].display_name][0]
    assert carlow["Current (£)"] == 3800 and carlow["Requested (£)"] == 4000
    assert carlow["Agreed (£)"] == 3800 and carlow["Decision"].startswith("Rejected")
    assert client.get(f"/fee-reviews/{round_id}/submissions.pdf").status_code == 404
