"""Issue 4 in a real browser: a member authority officer searches the
directory for a residential home within 20 miles of Harrow (HA1), sorted by
price, and sees the cheapest compliant home first; a commissioner suspends
that provider and the officer's search no longer offers it.

The homes are seeded as approved providers (memberships and prices, as a
decision leaves them) with names unique to this run: the browser tests share
one database.
"""
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.domain.applications import today
from app.domain.reference import SettingType
from app.domain.states import ComplianceStatus, PriceSource, Role, SuspensionReason
from app.domain.suspensions import suspend
from app.extensions import db
from app.models import (AccessAgreement, Authority, Dps, Lot, Membership, Price, Provider,
                        User)
from tests.e2e.helpers import assert_accessible, sign_in, unique_email
from tests.factories import make_provider, make_setting
from tests.factories_evaluation import ctx_for, quick_user

pytestmark = pytest.mark.e2e

LOT = "Lot 2: Children's residential homes"
PLACEMENT = "Residential (2–3 bed home)"


@dataclass
class Market:
    officer_email: str
    manager_email: str
    cheapest: str
    next_cheapest: str
    non_compliant: str
    too_far: str
    cheapest_provider_id: int
    manager_id: int
    lot_id: int


def _seed(app) -> Market:
    """A member authority with an agreement for Lot 2, its officer, a
    commissioning manager, and four homes (miles from HA1 in brackets)."""
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        dps = db.session.execute(sa.select(Dps).order_by(Dps.id).limit(1)).scalar_one()
        lot = db.session.execute(
            sa.select(Lot).where(Lot.dps_id == dps.id, Lot.number == 2)).scalar_one()
        placement = next(pt for pt in lot.placement_types if pt.name == PLACEMENT)
        authority = Authority(name=f"London Borough of Brent {tag}")
        db.session.add(authority)
        db.session.flush()
        db.session.add(AccessAgreement(authority_id=authority.id, lot_id=lot.id,
                                       annual_fee=Decimal("3150"),
                                       starts_on=today() - timedelta(days=60),
                                       ends_on=today() + timedelta(days=300)))
        db.session.commit()
        officer = quick_user(Role.MEMBER_OFFICER, authority_id=authority.id,
                             email=unique_email("officer"), full_name="Priya Shah")
        manager = quick_user(Role.MANAGER, email=unique_email("manager"),
                             full_name="Helen Murray")

        def home(name, postcode, price, compliance=ComplianceStatus.COMPLIANT) -> Provider:
            provider = make_provider(legal_name=f"{name} Ltd", trading_name=name,
                                     company_number=f"{uuid.uuid4().int % 10**8:08d}",
                                     contact_email=unique_email("office"))
            make_setting(provider, name=name, setting_type=SettingType.CHILDRENS_HOME,
                         ofsted_urn=f"SC{uuid.uuid4().int % 10**6:06d}", postcode=postcode,
                         age_min=8, age_max=17, registered_places=3)
            db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                                      started_on=today() - timedelta(days=200),
                                      compliance=compliance))
            db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                                 placement_type_id=placement.id, amount=Decimal(price),
                                 valid_from=today() - timedelta(days=200),
                                 source=PriceSource.APPLICATION))
            db.session.commit()
            return provider

        cheapest = home(f"Acorn Lodge {tag}", "HA2 0AA", "2950")  # 1.0
        home(f"Birch House {tag}", "HA1 1AA", "3050")  # 0.0
        home(f"Damson Care {tag}", "HA3 5AA", "2900", ComplianceStatus.NON_COMPLIANT)  # 1.2
        home(f"Cedar Court {tag}", "RM3 7JS", "2850")  # 24.3: too far
        market = Market(officer.email, manager.email, f"Acorn Lodge {tag}",
                        f"Birch House {tag}", f"Damson Care {tag}", f"Cedar Court {tag}",
                        cheapest.id, manager.id, lot.id)
        db.session.remove()
    return market


def _person(new_context, email: str) -> Page:
    page = new_context().new_page()
    sign_in(page, email)
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()
    return page


def test_member_officer_finds_the_cheapest_home_within_20_miles_until_it_is_suspended(
        new_context, live_server):
    market = _seed(live_server.app)
    officer = _person(new_context, market.officer_email)

    # ------------------------------------------------------------ 1. search
    officer.goto("/directory/")
    expect(officer.get_by_role("heading", name="Find approved providers", level=1)).to_be_visible()
    lot_select = officer.get_by_label("Lot", exact=True)
    # Only the lot of the authority's agreement is offered.
    expect(lot_select.locator("option")).to_have_count(1)
    lot_select.select_option(label=LOT)
    officer.get_by_label("Placement type").select_option(label=PLACEMENT)
    # htmx searches on every change and keeps the address in step.
    expect(officer).to_have_url(re.compile(r"[?&]placement_type=\d+"))
    officer.get_by_label("Postcode").fill("HA1")
    officer.get_by_label("Within").select_option(label="20 miles")
    officer.get_by_label("Price (cheapest first)").check()
    officer.get_by_role("button", name="Search").click()
    expect(officer).to_have_url(re.compile(r"postcode=HA1.*radius=20.*sort=price"))

    results = officer.locator("#directory-results")
    expect(results.get_by_role("status")).to_contain_text("within 20 miles of HA1")
    rows = results.locator("tbody tr")
    mine = rows.filter(has_text=market.cheapest[-6:])
    expect(rows.first).to_contain_text(market.cheapest)
    expect(rows.first).to_contain_text("£2,950.00")
    expect(rows.first).to_contain_text("1.0 miles")
    expect(rows.first).to_contain_text("Compliant")
    # Cheapest compliant first; the cheaper non-compliant home is marked, after
    # every compliant one; the cheapest of all is too far away.
    expect(mine).to_have_count(3)
    expect(mine.nth(0)).to_contain_text(market.cheapest)
    expect(mine.nth(1)).to_contain_text(market.next_cheapest)
    expect(rows.last).to_contain_text(market.non_compliant)
    expect(rows.last).to_contain_text("Non-compliant")
    expect(results).not_to_contain_text(market.too_far)
    assert_accessible(officer)
    search_url = officer.url

    # ------------------------------------------------------------ 2. suspend
    app = live_server.app
    with app.app_context():
        provider = db.session.get(Provider, market.cheapest_provider_id)
        manager = db.session.get(User, market.manager_id)
        lot = db.session.get(Lot, market.lot_id)
        suspend(ctx_for(manager), provider, reason=SuspensionReason.SAFEGUARDING,
                description="Serious safeguarding shortfalls found at a visit",
                starts_on=today(), lot=lot)
        db.session.commit()
        db.session.remove()

    # ------------------------------------------------------------ 3. gone
    officer.goto(search_url)
    rows = officer.locator("#directory-results tbody tr")
    expect(rows.first).to_contain_text(market.next_cheapest)
    expect(officer.locator("#directory-results")).not_to_contain_text(market.cheapest)

    # The commissioner still sees it, marked, when asking for suspended providers.
    manager_page = _person(new_context, market.manager_email)
    manager_page.goto(search_url + "&show_suspended=y")
    suspended_row = manager_page.locator("#directory-results tbody tr").filter(
        has_text=market.cheapest)
    expect(suspended_row).to_contain_text("Suspended")
