"""The directory's search rules on a known market of children's homes on
Lot 2: distance from HA1 (Harrow), price order, each filter, suspension and
removal, and which lots a person may search."""
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain import audit, directory, geo
from app.domain.reference import Gender, OfstedJudgement, SettingType
from app.domain.states import (ComplianceStatus, MembershipStatus, PriceSource,
                               SuspensionReason)
from app.domain.suspensions import suspend
from app.extensions import db
from app.models import Application, ApplicationLot, ApplicationLotSetting, Membership, Price
from tests.factories import make_provider, make_setting

ON = date(2025, 6, 1)
EVERY_LOT = directory.Access(None, sees_suspended=True)
OFFICER = directory.Access(None, sees_suspended=False)


def add_home(lot, name, postcode, prices=None, *, judgement=OfstedJudgement.GOOD, ages=(8, 17),
             gender=Gender.ANY, specialisms=(), compliance=ComplianceStatus.COMPLIANT,
             status=MembershipStatus.ACTIVE, setting_type=SettingType.CHILDRENS_HOME,
             application_id=None):
    """A provider with one setting and a membership of `lot`, with weekly
    prices in force on ON for the lot's placement types (by position)."""
    provider = make_provider(legal_name=f"{name} Ltd", trading_name=name)
    setting = make_setting(provider, name=f"{name} House", setting_type=setting_type,
                           postcode=postcode, ofsted_judgement=judgement, age_min=ages[0],
                           age_max=ages[1], gender=gender)
    setting.specialisms = list(specialisms)
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, status=status,
                              started_on=ON - timedelta(days=400), compliance=compliance,
                              application_id=application_id))
    for position, amount in (prices or {}).items():
        db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                             placement_type_id=lot.placement_types[position].id,
                             amount=Decimal(amount), valid_from=ON - timedelta(days=60),
                             source=PriceSource.APPLICATION))
    db.session.commit()
    return provider


@pytest.fixture
def lot(dps):
    return dps.lots[1]  # Lot 2: children's residential homes


@pytest.fixture
def market(lot):
    """Six approved homes at known places (miles from HA1 in brackets)."""
    add_home(lot, "Harrow Hill", "HA1 1AA", {0: "3400", 1: "3000"},  # 0.0
             specialisms=["autism"])
    add_home(lot, "Pinner View", "HA2 0AA", {0: "3200", 1: "3300"},  # 1.0
             judgement=OfstedJudgement.OUTSTANDING, ages=(10, 17), gender=Gender.FEMALE,
             specialisms=["autism", "cse_risk"])
    add_home(lot, "Wealdstone", "HA3 5AA", {1: "2800"}, ages=(12, 17))  # 1.2, no price 0
    add_home(lot, "Stratford Lodge", "E15 4QZ", {0: "3600"}, ages=(12, 17),  # 14.9
             gender=Gender.MALE)
    add_home(lot, "Romford Gate", "RM3 7JS", {0: "2900"})  # 24.3
    add_home(lot, "Chelmsford Court", "CM1 1BN", {1: "3100"},  # 35.9
             judgement=OfstedJudgement.REQUIRES_IMPROVEMENT)


def crit(lot, **kwargs) -> directory.Criteria:
    kwargs.setdefault("placement_type_id", lot.placement_types[0].id)
    if isinstance(kwargs.get("near"), str):
        kwargs["near"] = geo.locate(kwargs["near"])
    return directory.Criteria(lot_id=lot.id, **kwargs)


def names(page_or_rows) -> list[str]:
    rows = page_or_rows.rows if hasattr(page_or_rows, "rows") else page_or_rows
    return [r.provider.display_name for r in rows]


def found(lot, access=EVERY_LOT, **kwargs) -> list[str]:
    return names(directory.search(crit(lot, **kwargs), access, ON, per_page=100))


def test_within_20_miles_of_harrow_cheapest_first_missing_prices_last(lot, market):
    page = directory.search(crit(lot, near="HA1", radius_miles=20), EVERY_LOT, ON)
    assert names(page) == ["Pinner View", "Harrow Hill", "Stratford Lodge", "Wealdstone"]
    assert [r.price for r in page.rows] == [Decimal("3200"), Decimal("3400"), Decimal("3600"),
                                           None]
    assert [r.distance_miles for r in page.rows] == [1.0, 0.0, 14.9, 1.2]
    assert page.total == 4 and page.placement_type.name == "Residential (single-bed home)"


def test_nearest_first_and_the_radius_decides_who_is_in(lot, market):
    assert found(lot, near="HA1 1AA", sort="distance") == [
        "Harrow Hill", "Pinner View", "Wealdstone", "Stratford Lodge"]
    assert found(lot, near="HA1", radius_miles=5, sort="distance") == [
        "Harrow Hill", "Pinner View", "Wealdstone"]
    assert found(lot, near="HA1", radius_miles=50, sort="distance")[-2:] == [
        "Romford Gate", "Chelmsford Court"]
    # From Stratford, Romford (10.6 miles) is nearer than Harrow (14.4 to 15.7).
    assert found(lot, near="E15", radius_miles=20, sort="distance") == [
        "Stratford Lodge", "Romford Gate", "Wealdstone", "Harrow Hill", "Pinner View"]


def test_without_a_postcode_every_home_on_the_lot_by_price(lot, market):
    page = directory.search(crit(lot), EVERY_LOT, ON)
    assert names(page) == ["Romford Gate", "Pinner View", "Harrow Hill", "Stratford Lodge",
                           "Chelmsford Court", "Wealdstone"]
    assert all(r.distance_miles is None for r in page.rows)


def test_the_placement_type_decides_the_price_shown_and_its_order(lot, market):
    page = directory.search(crit(lot, placement_type_id=lot.placement_types[1].id,
                                 near="HA1"), EVERY_LOT, ON)
    assert names(page) == ["Wealdstone", "Harrow Hill", "Pinner View", "Stratford Lodge"]
    assert [r.price for r in page.rows] == [Decimal("2800"), Decimal("3000"), Decimal("3300"),
                                           None]


def test_each_filter(lot, market):
    everyone = {"Harrow Hill", "Pinner View", "Wealdstone", "Stratford Lodge", "Romford Gate",
                "Chelmsford Court"}
    assert set(found(lot, min_judgement=OfstedJudgement.OUTSTANDING)) == {"Pinner View"}
    assert set(found(lot, min_judgement=OfstedJudgement.GOOD)) == everyone - {"Chelmsford Court"}
    assert set(found(lot, min_judgement=OfstedJudgement.REQUIRES_IMPROVEMENT)) == everyone
    # A child's age must be within the setting's range, both ends included.
    assert set(found(lot, age=9)) == {"Harrow Hill", "Romford Gate", "Chelmsford Court"}
    assert set(found(lot, age=12)) == everyone
    assert found(lot, age=18) == []
    # A setting taking any gender matches every child.
    assert set(found(lot, gender=Gender.FEMALE)) == everyone - {"Stratford Lodge"}
    assert set(found(lot, gender=Gender.MALE)) == everyone - {"Pinner View"}
    # Every specialism asked for must be offered.
    assert set(found(lot, specialisms=("autism",))) == {"Harrow Hill", "Pinner View"}
    assert found(lot, specialisms=("autism", "cse_risk")) == ["Pinner View"]
    assert found(lot, specialisms=("autism", "remand")) == []
    # Filters combine.
    assert found(lot, near="HA1", radius_miles=5, gender=Gender.FEMALE, age=11) == [
        "Pinner View", "Harrow Hill"]


def test_prices_in_force_today_only(lot, market):
    provider = add_home(lot, "Kenton Lodge", "HA3 0AA")
    pt = lot.placement_types[0]
    db.session.add_all([
        Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
              amount=Decimal("2000"), valid_from=ON - timedelta(days=400), valid_to=ON,
              source=PriceSource.APPLICATION),
        Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
              amount=Decimal("3350"), valid_from=ON, source=PriceSource.FEE_REVIEW),
        Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
              amount=Decimal("1"), valid_from=ON + timedelta(days=1),
              source=PriceSource.FEE_REVIEW),
    ])
    db.session.commit()
    page = directory.search(crit(lot, near="HA1"), EVERY_LOT, ON)
    assert names(page)[:3] == ["Pinner View", "Kenton Lodge", "Harrow Hill"]
    assert page.rows[1].price == Decimal("3350")


def test_non_compliant_members_are_shown_marked_after_the_compliant(lot, market):
    add_home(lot, "Lapsed Cover Care", "HA2 7AA", {0: "3050"},
             compliance=ComplianceStatus.NON_COMPLIANT)
    page = directory.search(crit(lot, near="HA1"), OFFICER, ON)
    assert names(page) == ["Pinner View", "Harrow Hill", "Stratford Lodge", "Wealdstone",
                           "Lapsed Cover Care"]
    assert [r.compliant for r in page.rows] == [True, True, True, True, False]


def test_suspended_providers_and_settings_are_never_offered_as_available(lot, market, dps):
    whole = add_home(lot, "Suspended Homes", "HA1 2AA", {0: "2500"})
    suspend(audit.SYSTEM, whole, reason=SuspensionReason.SAFEGUARDING,
            description="Serious safeguarding shortfalls", starts_on=ON, lot=lot)
    one_home = add_home(lot, "Closed Wing Care", "HA1 3AA", {0: "2600"})
    suspend(audit.SYSTEM, one_home, reason=SuspensionReason.PERFORMANCE,
            description="Staffing below the registered level", starts_on=ON,
            setting=one_home.settings[0])
    # Suspended from another lot only: still available on this one.
    elsewhere = add_home(lot, "Other Lot Issue", "HA1 4AA", {0: "3500"})
    db.session.add(Membership(provider_id=elsewhere.id, lot_id=dps.lots[0].id,
                              started_on=ON - timedelta(days=300)))
    db.session.commit()
    suspend(audit.SYSTEM, elsewhere, reason=SuspensionReason.OTHER, description="Lot 1 only",
            starts_on=ON, lot=dps.lots[0])
    add_home(lot, "Removed Homes", "HA1 5AA", {0: "2400"}, status=MembershipStatus.REMOVED)
    db.session.commit()

    available = ["Pinner View", "Harrow Hill", "Other Lot Issue", "Stratford Lodge", "Wealdstone"]
    # Member officers never see them, even when they ask.
    assert found(lot, OFFICER, near="HA1", show_suspended=True) == available
    # Commissioners see them only when asked, marked and after every available row.
    assert found(lot, EVERY_LOT, near="HA1") == available
    page = directory.search(crit(lot, near="HA1", show_suspended=True), EVERY_LOT, ON)
    assert names(page) == available + ["Suspended Homes", "Closed Wing Care"]
    assert [r.suspended for r in page.rows] == [False] * 5 + [True, True]
    assert "Removed Homes" not in names(page)
    rows = list(directory.all_rows(crit(lot, show_suspended=True), OFFICER, ON)[2])
    assert not any(r.suspended for r in rows) and "Suspended Homes" not in names(rows)


def test_only_settings_offered_under_the_lot(lot, market, dps):
    # A fostering agency does not belong to the residential lot.
    add_home(lot, "Wrong Type Fostering", "HA1 6AA", {0: "1000"},
             setting_type=SettingType.FOSTERING_AGENCY)
    # A member of Lot 1 only.
    add_home(dps.lots[0], "Lot One Only", "HA1 7AA", {0: "900"})
    # Approved through the portal: only the home its application offered.
    provider = make_provider(legal_name="Two Homes Ltd", trading_name="Two Homes")
    offered = make_setting(provider, name="Offered Home", setting_type=SettingType.CHILDRENS_HOME,
                           postcode="HA2 1AA")
    make_setting(provider, name="Newer Home", setting_type=SettingType.CHILDRENS_HOME,
                 postcode="HA2 2AA")
    application = Application(provider_id=provider.id, dps_id=dps.id)
    application.lots.append(ApplicationLot(lot_id=lot.id, setting_links=[
        ApplicationLotSetting(setting_id=offered.id)]))
    db.session.add(application)
    db.session.flush()
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, application_id=application.id,
                              started_on=ON))
    db.session.commit()
    page = directory.search(crit(lot, near="HA1"), EVERY_LOT, ON)
    assert "Wrong Type Fostering" not in names(page) and "Lot One Only" not in names(page)
    assert [r.setting.name for r in page.rows if r.provider.id == provider.id] == ["Offered Home"]


def test_a_member_officer_searches_only_their_authoritys_lots(lot, market, dps):
    officer = directory.access_for({dps.lots[0].id}, commissioner=False)
    assert [x.number for x in directory.visible_lots(officer)] == [1]
    with pytest.raises(directory.LotNotVisible):
        directory.search(crit(lot), officer, ON)
    with pytest.raises(directory.LotNotVisible):
        directory.all_rows(crit(lot), officer, ON)
    nobody = directory.access_for(set(), commissioner=False)
    assert directory.visible_lots(nobody) == []
    assert [x.number for x in directory.visible_lots(EVERY_LOT)] == [1, 2, 3, 4]
    with pytest.raises(directory.LotNotVisible):
        directory.search(replace(crit(lot), lot_id=999999), EVERY_LOT, ON)


def test_inconsistent_searches_are_refused(lot, dps):
    with pytest.raises(directory.DirectoryError, match="Enter a postcode to sort by distance"):
        directory.search(crit(lot, sort="distance"), EVERY_LOT, ON)
    other_lots_type = dps.lots[0].placement_types[0].id
    with pytest.raises(directory.DirectoryError, match="placement type"):
        directory.search(crit(lot, placement_type_id=other_lots_type), EVERY_LOT, ON)


def test_pages(lot, market):
    first = directory.search(crit(lot), EVERY_LOT, ON, page=1, per_page=4)
    second = directory.search(crit(lot), EVERY_LOT, ON, page=2, per_page=4)
    assert (first.total, first.pages, first.first, first.last) == (6, 2, 1, 4)
    assert (second.first, second.last) == (5, 6)
    assert names(first) + names(second) == found(lot)
    # Past the end: the last page.
    assert directory.search(crit(lot), EVERY_LOT, ON, page=9, per_page=4).page == 2


def test_all_rows_reads_lazily_in_order(lot, market):
    criteria = crit(lot, near="HA1", radius_miles=50)
    found_lot, placement_type, rows = directory.all_rows(criteria, EVERY_LOT, ON, batch=2)
    assert found_lot.id == lot.id and placement_type.id == lot.placement_types[0].id
    assert not isinstance(rows, list)
    assert names(list(rows)) == found(lot, near="HA1", radius_miles=50)
