"""Domain rules behind the rate-card API: access agreements (fees, dates,
overlap), which lots a token sees on a date, API token hashing and use, and
what a rate card holds."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain import agreements, api_tokens, rate_card
from app.domain.agreements import AgreementError, parse_fee
from app.domain.audit import SYSTEM
from app.domain.reference import SettingType
from app.domain.states import MembershipStatus, PriceSource, Role
from app.extensions import db
from app.models import ApiToken, AuditEvent, Authority, Membership, Price
from tests.factories import make_provider, make_setting

D = Decimal


@pytest.fixture
def lots(dps):
    return {lot.number: lot for lot in dps.lots}


@pytest.fixture
def redbridge(dps):
    authority = agreements.create_authority(SYSTEM, name="London Borough of Redbridge",
                                            is_lead=False)
    db.session.commit()
    return authority


@pytest.mark.parametrize("typed,fee", [("3150", "3150.00"), ("£3,150", "3150.00"),
                                       ("3 150.5", "3150.50"), ("0", "0.00"),
                                       ("1,000,000.00", "1000000.00")])
def test_annual_fees_in_pounds_and_pence(typed, fee):
    assert parse_fee(typed) == D(fee)


@pytest.mark.parametrize("typed,message", [
    ("", "Enter the annual fee"), ("-1", "£0 or more"), ("3,15", "pounds and pence"),
    ("3150.123", "pounds and pence"), ("1e3", "pounds and pence"),
    ("1000000.01", "£1,000,000 or less")])
def test_bad_annual_fees_are_refused(typed, message):
    with pytest.raises(AgreementError, match=message) as refused:
        parse_fee(typed)
    assert refused.value.field == "annual_fee"


def test_agreement_states_on_a_date(redbridge, lots):
    agreement = agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                                         starts_on=date(2025, 4, 1), ends_on=date(2026, 3, 31))
    assert agreements.agreement_state(agreement, date(2025, 3, 31)) == "future"
    assert agreements.agreement_state(agreement, date(2025, 4, 1)) == "current"
    assert agreements.agreement_state(agreement, date(2026, 3, 31)) == "current"
    assert agreements.agreement_state(agreement, date(2026, 4, 1)) == "ended"


def test_overlap_is_inclusive_of_both_end_days(redbridge, lots):
    agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                             starts_on=date(2025, 4, 1), ends_on=date(2026, 3, 31))
    with pytest.raises(AgreementError, match="must not overlap"):
        agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                                 starts_on=date(2024, 4, 1), ends_on=date(2025, 4, 1))
    with pytest.raises(AgreementError, match="must not overlap"):
        agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                                 starts_on=date(2025, 6, 1), ends_on=date(2025, 7, 1))
    before = agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3000"),
                                      starts_on=date(2024, 4, 1), ends_on=date(2025, 3, 31))
    # Changing an agreement does not clash with itself.
    assert agreements.update_agreement(SYSTEM, before, lot=lots[1], annual_fee=D("3050"),
                                       starts_on=date(2024, 4, 1), ends_on=date(2025, 3, 31))
    assert not agreements.update_agreement(SYSTEM, before, lot=lots[1], annual_fee=D("3050"),
                                           starts_on=date(2024, 4, 1), ends_on=date(2025, 3, 31))


def test_dates_must_run_forwards(redbridge, lots):
    with pytest.raises(AgreementError, match="End date must be after the start date"):
        agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                                 starts_on=date(2025, 4, 1), ends_on=date(2025, 4, 1))
    agreement = agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                                         starts_on=date(2025, 4, 1), ends_on=date(2026, 3, 31))
    with pytest.raises(AgreementError, match="after the start date"):
        agreements.end_agreement(SYSTEM, agreement, last_day=date(2025, 4, 1))
    agreements.end_agreement(SYSTEM, agreement, last_day=date(2025, 4, 2))
    assert agreement.ends_on == date(2025, 4, 2)


def test_staff_authority_rules(dps, redbridge):
    with pytest.raises(AgreementError, match="Select the member authority"):
        agreements.staff_authority(Role.MEMBER_OFFICER, None)
    assert agreements.staff_authority(Role.MEMBER_OFFICER, redbridge.id) is redbridge
    lead = agreements.staff_authority(Role.MANAGER, None)
    assert lead.is_lead and lead.name == dps.lead_authority
    assert agreements.ensure_lead_authority() is lead  # not created twice
    with pytest.raises(AgreementError, match="Commissioning managers work for the lead"):
        agreements.staff_authority(Role.MANAGER, redbridge.id)


def test_a_token_sees_the_lots_of_current_agreements_on_the_day(redbridge, lots):
    agreements.add_agreement(SYSTEM, redbridge, lot=lots[2], annual_fee=D("3150"),
                             starts_on=date(2025, 4, 1), ends_on=date(2026, 3, 31))
    agreements.add_agreement(SYSTEM, redbridge, lot=lots[1], annual_fee=D("3150"),
                             starts_on=date(2024, 4, 1), ends_on=date(2025, 3, 31))
    numbers = lambda on: [lot.number for lot in rate_card.lots_for(redbridge, on)]  # noqa: E731
    assert numbers(date(2024, 3, 31)) == []
    assert numbers(date(2025, 3, 31)) == [1]
    assert numbers(date(2025, 4, 1)) == [2]
    assert numbers(date(2026, 4, 1)) == []
    lead = Authority(name="Lead", is_lead=True)
    db.session.add(lead)
    assert [lot.number for lot in rate_card.lots_for(lead, date(2020, 1, 1))] == [1, 2, 3, 4]


def test_tokens_are_stored_as_hashes_and_found_by_them(redbridge):
    token, plaintext = api_tokens.issue_token(SYSTEM, redbridge, name=" Brokerage  tool ",
                                              created_by_id=None)
    assert token.name == "Brokerage tool"
    assert plaintext.startswith("dps_") and token.prefix == plaintext[:12]
    assert token.token_hash == api_tokens.hash_token(plaintext) != plaintext
    assert api_tokens.authenticate(plaintext) is token
    assert api_tokens.authenticate("dps_" + "x" * 43) is None
    assert api_tokens.authenticate(plaintext.removeprefix("dps_")) is None
    _, other = api_tokens.issue_token(SYSTEM, redbridge, name="Second", created_by_id=None)
    assert other != plaintext
    api_tokens.revoke_token(SYSTEM, token, by_user_id=None)
    assert api_tokens.authenticate(plaintext) is None
    with pytest.raises(api_tokens.TokenError, match="already been revoked"):
        api_tokens.revoke_token(SYSTEM, token, by_user_id=None)
    events = [e.action for e in AuditEvent.query.order_by(AuditEvent.id)]
    assert events.count("api_token.issued") == 2 and events.count("api_token.revoked") == 1


def test_last_used_is_written_at_most_once_a_minute(redbridge):
    token, _ = api_tokens.issue_token(SYSTEM, redbridge, name="Tool", created_by_id=None)
    db.session.commit()
    now = datetime(2026, 1, 5, 9, 0, 0)
    assert api_tokens.mark_used(token, now)
    assert not api_tokens.mark_used(token, now + timedelta(seconds=59))
    assert api_tokens.mark_used(token, now + timedelta(seconds=61))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at == now + timedelta(seconds=61)


def _member_of(provider, lot, status=MembershipStatus.ACTIVE, amount="925"):
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, started_on=date(2024, 4, 1),
                              status=status))
    db.session.add(Price(provider_id=provider.id, lot_id=lot.id,
                         placement_type_id=lot.placement_types[0].id, amount=D(amount),
                         valid_from=date(2024, 4, 1), source=PriceSource.APPLICATION))
    db.session.commit()


def test_a_rate_card_holds_only_the_lots_shown_and_their_settings(lots):
    provider = make_provider()
    agency = make_setting(provider, setting_type=SettingType.FOSTERING_AGENCY)
    home = make_setting(provider, setting_type=SettingType.CHILDRENS_HOME)
    make_setting(provider, setting_type=SettingType.SUPPORTED_ACCOMMODATION)
    _member_of(provider, lots[1], amount="925")
    _member_of(provider, lots[2], status=MembershipStatus.SUSPENDED, amount="3800")
    _member_of(provider, lots[3], status=MembershipStatus.REMOVED, amount="1200")
    on = date(2025, 6, 1)
    card = rate_card.provider_card(provider.id, [lots[1], lots[2], lots[3]], on)
    assert [m.lot_id for m in card.memberships] == [lots[1].id, lots[2].id]
    assert [p.amount for p in card.ceiling_prices] == [D("925"), D("3800")]
    assert {(s.setting.id, tuple(s.lot_numbers), s.available) for s in card.settings} == {
        (agency.id, (1,), True), (home.id, (2,), False)}
    assert card.available and card.suspended
    only_2 = rate_card.provider_card(provider.id, [lots[2]], on)
    assert not only_2.available and only_2.suspended
    assert rate_card.provider_card(provider.id, [lots[3]], on) is None
    assert rate_card.provider_card(provider.id, [], on) is None


def test_changed_since_counts_prices_taking_effect(lots):
    provider = make_provider()
    _member_of(provider, lots[1])
    db.session.add(Price(provider_id=provider.id, lot_id=lots[1].id,
                         placement_type_id=lots[1].placement_types[1].id, amount=D("950"),
                         valid_from=date(2030, 4, 1), source=PriceSource.FEE_REVIEW,
                         created_at=datetime(2020, 1, 1)))
    db.session.commit()
    since = datetime(2030, 3, 31, 12, 0)
    page = rate_card.providers_page([lots[1]], date(2030, 3, 31), updated_since=since)
    assert page.total == 0
    # On 1 April the future price comes into force: the card has changed.
    page = rate_card.providers_page([lots[1]], date(2030, 4, 1), updated_since=since)
    assert page.total == 1 and page.cards[0].ceiling_prices[-1].amount == D("950")
