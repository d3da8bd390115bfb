"""The distribution of approved prices on a lot: quartiles, median and outlier
flags on known numbers, and which prices count on a date."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain.pricing import HIGH, LOW, distribution_of, percentile, price_distribution
from app.domain.states import MembershipStatus, PriceSource
from app.extensions import db
from app.models import Membership, Price
from tests.factories import make_provider

D = Decimal
ON = date(2025, 6, 1)


def amounts(*values):
    return [D(str(v)) for v in values]


def test_quartiles_median_and_a_high_outlier_on_known_numbers():
    spread = distribution_of(amounts(1000, 800, 2500, 900, 850, 950))  # any order
    assert spread.count == 6
    assert (spread.minimum, spread.maximum) == (D("800"), D("2500"))
    # Linear interpolation between ranks, as PostgreSQL's percentile_cont.
    assert spread.lower_quartile == D("862.50")
    assert spread.median == D("925.00")
    assert spread.upper_quartile == D("987.50")
    # IQR 125: fences at 862.50 - 187.50 = 675 and 987.50 + 187.50 = 1175.
    assert spread.fences() == (D("675.0000"), D("1175.0000"))
    assert spread.flag(D("2500")) == HIGH
    assert spread.flag(D("1175")) is None  # on the fence is not beyond it
    assert spread.flag(D("1175.01")) == HIGH
    assert spread.flag(D("800")) is None
    assert spread.flag(D("674.99")) == LOW


def test_odd_number_of_prices():
    spread = distribution_of(amounts(5, 1, 4, 2, 3))
    assert (spread.lower_quartile, spread.median, spread.upper_quartile) == (D(2), D(3), D(4))


def test_quartiles_are_rounded_to_pennies():
    spread = distribution_of(amounts("846.00", "880.00", "925.00", "990.00", "1045.00",
                                     "1050.00", "1100.01"))
    assert spread.lower_quartile == D("902.50") and spread.median == D("990.00")
    assert spread.upper_quartile == D("1047.50")
    assert percentile(amounts(1, 2), D("0.5")) == D("1.5")


@pytest.mark.parametrize("values", [(), (900,), (900, 950, 5000)])
def test_fewer_than_four_prices_are_not_compared(values):
    spread = distribution_of(amounts(*values))
    assert spread.count == len(values)
    assert not spread.enough
    assert spread.fences() is None
    assert spread.flag(D("100000")) is None


def _member(dps, lot, status=MembershipStatus.ACTIVE):
    provider = make_provider()
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, status=status,
                              started_on=ON - timedelta(days=400)))
    return provider


def _price(provider, lot, pt, amount, valid_from, valid_to=None, **extra):
    db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                         placement_type_id=pt.id if pt else None, amount=D(amount),
                         valid_from=valid_from, valid_to=valid_to,
                         source=PriceSource.APPLICATION, **extra))


def test_price_distribution_counts_prices_valid_on_the_date_of_active_members(dps):
    lot, other_lot = dps.lots[0], dps.lots[1]
    pt, pt2 = lot.placement_types[0], lot.placement_types[1]
    a, b, c = _member(dps, lot), _member(dps, lot), _member(dps, lot)
    # a: an old price that ended the day before, and the current one.
    _price(a, lot, pt, "700", ON - timedelta(days=365), ON)
    _price(a, lot, pt, "900", ON)
    # b: current until tomorrow, then a future rise that does not count yet.
    _price(b, lot, pt, "950", ON - timedelta(days=10), ON + timedelta(days=1))
    _price(b, lot, pt, "5000", ON + timedelta(days=1))
    _price(c, lot, pt, "1000", ON - timedelta(days=30))
    _price(c, lot, pt2, "1200", ON - timedelta(days=30))
    # A service rate (no placement type) is not a ceiling price.
    _price(c, lot, None, "40", ON - timedelta(days=30), service_item_id=lot.service_items[0].id)
    suspended = _member(dps, lot, MembershipStatus.SUSPENDED)
    _price(suspended, lot, pt, "9999", ON - timedelta(days=30))
    outsider = make_provider()  # prices without a membership of the lot
    _price(outsider, lot, pt, "8888", ON - timedelta(days=30))
    elsewhere = _member(dps, other_lot)
    _price(elsewhere, lot, pt, "7777", ON - timedelta(days=30))
    db.session.commit()

    found = price_distribution(lot.id, ON)
    assert set(found) == {pt.id, pt2.id}
    assert found[pt.id].count == 3
    assert (found[pt.id].minimum, found[pt.id].median, found[pt.id].maximum) == (
        D("900.00"), D("950.00"), D("1000.00"))
    assert found[pt2.id].count == 1
    # A year earlier only a's old price was valid; nothing for another lot.
    earlier = price_distribution(lot.id, ON - timedelta(days=100))
    assert earlier[pt.id].count == 1 and earlier[pt.id].minimum == D("700.00")
    assert price_distribution(other_lot.id, ON) == {}


def test_the_database_works_out_the_same_figures_as_python(dps):
    """On PostgreSQL the figures come from percentile_cont, on SQLite from
    Python: either way they match distribution_of to the penny, half pennies
    rounded up."""
    lot, pt = dps.lots[0], dps.lots[0].placement_types[0]
    values = ["846.01", "880.02", "925.00", "990.03", "1045.00", "1100.01", "3999.99"]
    for value in values:
        _price(_member(dps, lot), lot, pt, value, ON - timedelta(days=5))
    db.session.commit()
    assert price_distribution(lot.id, ON)[pt.id] == distribution_of(amounts(*values))
    spread = price_distribution(lot.id, ON)[pt.id]
    assert (spread.lower_quartile, spread.median, spread.upper_quartile) == (
        D("902.51"), D("990.03"), D("1072.51"))
