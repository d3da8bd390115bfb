"""Rate cards as the JSON the API promises (app/api/openapi.py describes it).

Money is a string with two decimal places ("925.00") so no client reads it
as a float; dates are ISO 8601; times are UTC with a "Z". A setting gives its
outward code only: a children's home's full postcode is not published.
"""
from datetime import date, datetime

from app.domain.prices import price_unit
from app.domain.rate_card import ProviderCard, SettingCard
from app.domain.states import MembershipStatus
from app.models import Membership, Price


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _utc(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def _money(amount) -> str:
    return f"{amount:.2f}"


def membership(m: Membership) -> dict:
    return {"lot": m.lot.number, "lot_name": m.lot.name, "status": m.status.value,
            "available": m.status is MembershipStatus.ACTIVE, "compliance": m.compliance.value,
            "non_compliant_since": _day(m.non_compliant_since), "started_on": _day(m.started_on)}


def setting(card: SettingCard) -> dict:
    s = card.setting
    return {"id": s.id, "name": s.name, "type": s.setting_type.value,
            "ofsted_urn": s.ofsted_urn, "ofsted_judgement": s.ofsted_judgement.value,
            "ofsted_judgement_date": _day(s.ofsted_judgement_date),
            "registered_places": s.registered_places, "age_min": s.age_min,
            "age_max": s.age_max, "gender": s.gender.value, "specialisms": s.specialisms,
            "outcode": s.outcode, "lots": card.lot_numbers, "suspended": s.is_suspended,
            "available": card.available}


def ceiling_price(p: Price, lot_number: int) -> dict:
    return {"lot": lot_number, "placement_type_id": p.placement_type_id,
            "placement_type": p.placement_type.name, "weekly_price": _money(p.amount),
            "valid_from": _day(p.valid_from), "valid_to": _day(p.valid_to)}


def additional_service(p: Price, lot_number: int) -> dict:
    name = p.service_item.name if p.service_item is not None else p.custom_name
    return {"lot": lot_number, "service_item_id": p.service_item_id, "name": name,
            "unit": price_unit(p), "rate": _money(p.amount), "valid_from": _day(p.valid_from),
            "valid_to": _day(p.valid_to)}


def provider(card: ProviderCard) -> dict:
    p = card.provider
    lot_number = {m.lot_id: m.lot.number for m in card.memberships}
    return {
        "id": p.id, "name": p.display_name, "legal_name": p.legal_name,
        "company_number": p.company_number,
        "available": card.available, "suspended": card.suspended,
        "compliance": {str(m.lot.number): m.compliance.value for m in card.memberships},
        "memberships": [membership(m) for m in card.memberships],
        "settings": [setting(s) for s in card.settings],
        "ceiling_prices": [ceiling_price(x, lot_number[x.lot_id]) for x in card.ceiling_prices],
        "additional_services": [additional_service(x, lot_number[x.lot_id])
                                for x in card.additional_services],
        "updated_at": _utc(p.updated_at),
    }
