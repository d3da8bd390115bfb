"""Authorities and their access agreements.

The lead authority runs the DPS and its staff see every lot. A member
authority pays a yearly fee per lot (for example £3,150) for access over a
period; its officers, and its rate-card API tokens, see only the lots of its
current agreements (app.domain.authorities.visible_lot_ids). Agreements for the
same authority and lot never overlap, so "current" is never ambiguous, and an
ended agreement stays on record. Nothing here commits.
"""
import re
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from app.domain import audit
from app.domain.states import Role
from app.extensions import db
from app.models import AccessAgreement, Authority, Dps, Lot

MAX_ANNUAL_FEE = Decimal("1000000")
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$")


class AgreementError(Exception):
    """A rule refused the change. `field` names the form field to show it on."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def parse_fee(raw: str | None) -> Decimal:
    """An annual fee typed by a person ("3,150", "£3150.00") to pounds and pence.
    A fee of £0 is allowed: a lead authority may waive it."""
    text = (raw or "").strip().replace(" ", "").removeprefix("£")
    if not text:
        raise AgreementError("Enter the annual fee", "annual_fee")
    if text.startswith("-"):
        raise AgreementError("Annual fee must be £0 or more", "annual_fee")
    if not _AMOUNT.match(text):
        raise AgreementError("Annual fee must be an amount in pounds and pence, like 3150.00",
                             "annual_fee")
    fee = Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
    if fee > MAX_ANNUAL_FEE:
        raise AgreementError("Annual fee must be £1,000,000 or less", "annual_fee")
    return fee


def agreement_state(agreement: AccessAgreement, on: date) -> str:
    """"current", "ended" or "future", for showing an agreement."""
    if agreement.ends_on < on:
        return "ended"
    if agreement.starts_on > on:
        return "future"
    return "current"


# ------------------------------------------------------------------ authorities

def lead_authority() -> Authority | None:
    return db.session.execute(
        sa.select(Authority).where(Authority.is_lead.is_(True)).order_by(Authority.id).limit(1)
    ).scalar_one_or_none()


def ensure_lead_authority() -> Authority | None:
    """The lead authority, created from the DPS's lead authority name when
    there is a DPS but no lead row yet (a portal set up before authorities
    were recorded). None when there is neither."""
    lead = lead_authority()
    if lead is not None:
        return lead
    name = db.session.execute(sa.select(Dps.lead_authority).order_by(Dps.id).limit(1)).scalar()
    if not name:
        return None
    lead = db.session.execute(sa.select(Authority).where(Authority.name == name)).scalar()
    if lead is None:
        lead = Authority(name=name, is_lead=True)
        db.session.add(lead)
        db.session.flush()
        audit.record(audit.SYSTEM, "authority.created", "authority", lead.id,
                     after={"name": name, "is_lead": True},
                     reason="The DPS's lead authority")
    else:
        lead.is_lead = True
        audit.record(audit.SYSTEM, "authority.updated", "authority", lead.id,
                     before={"is_lead": False}, after={"is_lead": True},
                     reason="The DPS's lead authority")
    return lead


def _check_authority(name: str, is_lead: bool, authority: Authority | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise AgreementError("Enter the authority's name", "name")
    if len(name) > 200:
        raise AgreementError("Name must be 200 characters or fewer", "name")
    same = db.session.execute(
        sa.select(Authority).where(sa.func.lower(Authority.name) == name.lower())
    ).scalar()
    if same is not None and same is not authority:
        raise AgreementError(f"There is already an authority called {same.name}", "name")
    lead = lead_authority()
    if is_lead and lead is not None and lead is not authority:
        raise AgreementError(f"{lead.name} is already the lead authority: a DPS has one",
                             "is_lead")
    if authority is not None and authority.is_lead and not is_lead:
        raise AgreementError("The lead authority cannot become a member authority", "is_lead")
    if is_lead and authority is not None and authority.agreements:
        raise AgreementError("An authority with access agreements cannot become the lead "
                             "authority: its staff would see every lot", "is_lead")
    return name


def create_authority(ctx: audit.AuditContext, *, name: str, is_lead: bool) -> Authority:
    name = _check_authority(name, is_lead, None)
    authority = Authority(name=name, is_lead=is_lead)
    db.session.add(authority)
    db.session.flush()
    audit.record(ctx, "authority.created", "authority", authority.id,
                 after={"name": name, "is_lead": is_lead})
    return authority


def update_authority(ctx: audit.AuditContext, authority: Authority, *, name: str,
                     is_lead: bool) -> bool:
    """Rename or re-type an authority; False when nothing changed."""
    name = _check_authority(name, is_lead, authority)
    before = {"name": authority.name, "is_lead": authority.is_lead}
    after = {"name": name, "is_lead": is_lead}
    if before == after:
        return False
    authority.name, authority.is_lead = name, is_lead
    audit.record(ctx, "authority.updated", "authority", authority.id, before=before, after=after)
    return True


# ------------------------------------------------------------------ agreements

def _check_agreement(authority: Authority, lot: Lot, starts_on: date | None,
                     ends_on: date | None, agreement: AccessAgreement | None) -> None:
    if authority.is_lead:
        raise AgreementError("The lead authority sees every lot: it needs no access agreement")
    if starts_on is None:
        raise AgreementError("Enter the start date", "starts_on")
    if ends_on is None:
        raise AgreementError("Enter the end date", "ends_on")
    if ends_on <= starts_on:
        raise AgreementError("End date must be after the start date", "ends_on")
    clash = db.session.execute(
        sa.select(AccessAgreement).where(
            AccessAgreement.authority_id == authority.id, AccessAgreement.lot_id == lot.id,
            AccessAgreement.starts_on <= ends_on, AccessAgreement.ends_on >= starts_on,
            AccessAgreement.id != (agreement.id if agreement is not None else -1))
        .order_by(AccessAgreement.starts_on).limit(1)
    ).scalar()
    if clash is not None:
        raise AgreementError(
            f"{authority.name} already has an agreement for Lot {lot.number} from "
            f"{_uk(clash.starts_on)} to {_uk(clash.ends_on)}: the dates must not overlap",
            "starts_on")


def _uk(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def _snapshot(agreement: AccessAgreement) -> dict:
    return {"authority_id": agreement.authority_id, "lot_id": agreement.lot_id,
            "annual_fee": str(agreement.annual_fee), "starts_on": agreement.starts_on.isoformat(),
            "ends_on": agreement.ends_on.isoformat()}


def add_agreement(ctx: audit.AuditContext, authority: Authority, *, lot: Lot, annual_fee: Decimal,
                  starts_on: date | None, ends_on: date | None) -> AccessAgreement:
    _check_agreement(authority, lot, starts_on, ends_on, None)
    agreement = AccessAgreement(authority_id=authority.id, lot_id=lot.id, annual_fee=annual_fee,
                                starts_on=starts_on, ends_on=ends_on)
    db.session.add(agreement)
    db.session.flush()
    audit.record(ctx, "access_agreement.created", "access_agreement", agreement.id,
                 after=_snapshot(agreement))
    return agreement


def update_agreement(ctx: audit.AuditContext, agreement: AccessAgreement, *, lot: Lot,
                     annual_fee: Decimal, starts_on: date | None, ends_on: date | None,
                     reason: str | None = None) -> bool:
    """Change an agreement's lot, fee or dates; False when nothing changed."""
    _check_agreement(agreement.authority, lot, starts_on, ends_on, agreement)
    before = _snapshot(agreement)
    agreement.lot_id, agreement.annual_fee = lot.id, annual_fee
    agreement.starts_on, agreement.ends_on = starts_on, ends_on
    after = _snapshot(agreement)
    if before == after:
        return False
    audit.record(ctx, "access_agreement.updated", "access_agreement", agreement.id,
                 before=before, after=after, reason=reason)
    return True


def end_agreement(ctx: audit.AuditContext, agreement: AccessAgreement, *,
                  last_day: date | None, reason: str | None = None) -> None:
    """Bring an agreement's end forward: access stops after `last_day`."""
    if last_day is None:
        raise AgreementError("Enter the last day of access", "last_day")
    if last_day <= agreement.starts_on:
        raise AgreementError(f"Last day of access must be after the start date, "
                             f"{_uk(agreement.starts_on)}", "last_day")
    if last_day > agreement.ends_on:
        raise AgreementError(f"Last day of access must be on or before the current end date, "
                             f"{_uk(agreement.ends_on)}: to extend it, change the agreement",
                             "last_day")
    before = _snapshot(agreement)
    agreement.ends_on = last_day
    audit.record(ctx, "access_agreement.ended", "access_agreement", agreement.id,
                 before=before, after=_snapshot(agreement), reason=reason)


# ------------------------------------------------------------------ staff

def staff_authority(role: Role, authority_id: int | None) -> Authority | None:
    """The authority a new staff account belongs to: a member authority for a
    member authority officer (required: it decides the lots they see), the
    lead authority for everyone else (chosen for them when left blank)."""
    authority = db.session.get(Authority, authority_id) if authority_id else None
    if role is Role.MEMBER_OFFICER:
        if authority is None:
            raise AgreementError("Select the member authority this officer works for",
                                 "authority_id")
        if authority.is_lead:
            raise AgreementError("A member authority officer must belong to a member "
                                 "authority, not the lead authority", "authority_id")
        return authority
    if authority is None:
        return ensure_lead_authority()
    if not authority.is_lead:
        raise AgreementError(f"{role.label}s work for the lead authority: choose it, or leave "
                             "Authority blank", "authority_id")
    return authority
