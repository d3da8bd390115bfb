"""A provider's prices over time: new prices close the old rows and never
change an amount in place, so the price on any date can be answered."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain.prices import NewPrice, current_prices, price_label, price_on, replace_prices
from app.domain.reference import ServiceUnit
from app.domain.states import PriceSource
from app.extensions import db
from app.models import Price
from tests.factories import make_provider

D = Decimal
DAY = timedelta(days=1)
FIRST = date(2025, 4, 1)
SECOND = date(2026, 4, 1)


@pytest.fixture
def lot(dps):
    return dps.lots[0]


@pytest.fixture
def provider(dps):
    return make_provider()


def put(provider, lot, on, amounts, source=PriceSource.APPLICATION, source_id=None):
    new = [NewPrice(amount=D(a), placement_type_id=pt.id)
           for pt, a in zip(lot.placement_types, amounts)]
    closed, added = replace_prices(provider.id, lot.id, on, new, source=source,
                                   source_id=source_id)
    db.session.commit()
    return closed, added


def test_no_price_before_the_first_one_starts(provider, lot):
    put(provider, lot, FIRST, ["925", "950"])
    pt = lot.placement_types[0]
    assert price_on(provider.id, pt.id, FIRST - DAY) is None
    assert price_on(provider.id, pt.id, FIRST).amount == D("925")
    assert price_on(provider.id, pt.id, date(2030, 1, 1)).amount == D("925")
    assert current_prices(provider.id, lot.id, FIRST - DAY) == []


def test_new_prices_close_the_old_rows_and_keep_their_amounts(provider, lot):
    _, first = put(provider, lot, FIRST, ["925", "950"], source_id=7)
    closed, second = put(provider, lot, SECOND, ["960", "990"], PriceSource.FEE_REVIEW)
    assert {p.id for p in closed} == {p.id for p in first}
    pt = lot.placement_types[0]
    # The day before the change the old price applies; from the change, the new one.
    assert price_on(provider.id, pt.id, SECOND - DAY).amount == D("925")
    assert price_on(provider.id, pt.id, SECOND).amount == D("960")
    assert price_on(provider.id, pt.id, FIRST).amount == D("925")
    rows = Price.query.filter_by(provider_id=provider.id, placement_type_id=pt.id) \
        .order_by(Price.valid_from).all()
    assert [(r.amount, r.valid_from, r.valid_to, r.source) for r in rows] == [
        (D("925"), FIRST, SECOND, PriceSource.APPLICATION),
        (D("960"), SECOND, None, PriceSource.FEE_REVIEW)]
    assert rows[0].source_id == 7
    assert Price.query.filter_by(provider_id=provider.id).count() == 4


def test_current_prices_are_the_lots_rows_in_force_fees_first(provider, lot, dps):
    other_lot = dps.lots[1]
    item = lot.service_items[0]
    replace_prices(provider.id, lot.id, FIRST, [
        NewPrice(amount=D("175"), custom_name="Emergency assessment",
                 custom_unit=ServiceUnit.SESSION),
        NewPrice(amount=D("28"), service_item_id=item.id),
        NewPrice(amount=D("950"), placement_type_id=lot.placement_types[1].id),
        NewPrice(amount=D("925"), placement_type_id=lot.placement_types[0].id),
    ], source=PriceSource.APPLICATION, source_id=None)
    replace_prices(provider.id, other_lot.id, FIRST,
                   [NewPrice(amount=D("3800"), placement_type_id=other_lot.placement_types[0].id)],
                   source=PriceSource.APPLICATION, source_id=None)
    db.session.commit()
    prices = current_prices(provider.id, lot.id, FIRST + DAY)
    assert [price_label(p) for p in prices] == [
        lot.placement_types[0].name, lot.placement_types[1].name, item.name,
        "Emergency assessment"]
    assert [p.amount for p in current_prices(provider.id, other_lot.id, FIRST)] == [D("3800")]


def test_prices_of_one_provider_never_touch_anothers(provider, lot):
    other = make_provider()
    put(other, lot, FIRST, ["800"])
    put(provider, lot, SECOND, ["900"])
    pt = lot.placement_types[0]
    assert price_on(other.id, pt.id, SECOND + DAY).amount == D("800")
    assert price_on(provider.id, pt.id, SECOND).amount == D("900")


def test_a_row_not_yet_started_is_superseded_but_kept(provider, lot):
    put(provider, lot, SECOND, ["990"], PriceSource.FEE_REVIEW)  # agreed for next April
    put(provider, lot, FIRST, ["925"])
    pt = lot.placement_types[0]
    assert price_on(provider.id, pt.id, SECOND).amount == D("925")
    voided = Price.query.filter_by(provider_id=provider.id, amount=D("990")).one()
    assert voided.valid_from == voided.valid_to == SECOND


def test_two_changes_on_the_same_day_leave_the_last_in_force(provider, lot):
    put(provider, lot, FIRST, ["925"])
    put(provider, lot, FIRST, ["930"])
    pt = lot.placement_types[0]
    assert price_on(provider.id, pt.id, FIRST).amount == D("930")
    assert Price.query.filter_by(provider_id=provider.id).count() == 2


def test_demo_approved_providers_have_memberships_and_a_price_history(dps):
    from statistics import mean
    from app.demo import build_approved_providers, last_review_date
    from app.domain.audit import verify_chain
    from app.domain.states import MembershipStatus
    from app.models import Membership
    today = date(2026, 3, 15)
    review = last_review_date(today)
    assert review == date(2025, 4, 1)
    providers = build_approved_providers(dps, today)
    db.session.commit()
    assert len(providers) == 20
    memberships = Membership.query.all()
    assert len(memberships) == 20
    assert all(m.status is MembershipStatus.ACTIVE and m.started_on < review for m in memberships)
    for number, low, high, typical in [(1, 780, 1150, 925), (2, 3200, 4800, 3817)]:
        lot = dps.lots[number - 1]
        weekly = [p.amount for m in memberships if m.lot_id == lot.id
                  for p in current_prices(m.provider_id, lot.id, today) if p.placement_type_id]
        assert len(weekly) == 10 * len(lot.placement_types)
        assert low <= min(weekly) and max(weekly) <= high
        assert abs(mean(weekly) - typical) < typical * D("0.03")
    # Last year's price, closed when this year's started.
    member = memberships[0]
    pt = dps.lots[0].placement_types[0]
    now, before = price_on(member.provider_id, pt.id, review), \
        price_on(member.provider_id, pt.id, review - DAY)
    assert now.source is PriceSource.FEE_REVIEW and before.source is PriceSource.APPLICATION
    assert before.amount < now.amount and before.valid_to == review
    assert verify_chain()[1] == []
