"""Suspending and reinstating providers: from one lot, from every lot, or a
single setting. A suspended provider or setting is never offered as available.

Memberships and settings carry the denormalised state (Membership.status,
Setting.is_suspended) so searches filter on a column; this module is the one
place that keeps them in step with the Suspension rows.

A suspension may be dated to start in the future: it is recorded (and the
provider told) at once, and takes effect on its start date, when the daily
compliance job calls `start_due`. One dated today or earlier takes effect as
it is saved.
"""
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from app.domain import audit
from app.domain.applications import today
from app.domain.states import MembershipStatus, SuspensionReason
from app.extensions import db
from app.models import Membership, Setting, Suspension, utcnow

MAX_TEXT = 5000


class SuspensionError(Exception):
    """A rule refused the change; the message is written for staff."""


@dataclass(frozen=True)
class FlagChange:
    """A membership or setting whose suspended flag `_sync` changed."""
    kind: str  # "membership" or "setting"
    id: int
    suspended: bool


def active_suspensions(provider_id: int) -> list[Suspension]:
    """Suspensions not lifted, including any dated to start later."""
    return db.session.execute(
        sa.select(Suspension).where(Suspension.provider_id == provider_id,
                                    Suspension.lifted_at.is_(None))
        .order_by(Suspension.starts_on, Suspension.id)
    ).scalars().all()


def in_effect(suspension: Suspension, on: date) -> bool:
    return suspension.lifted_at is None and suspension.starts_on <= on


def _text(value: str | None, message: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise SuspensionError(message)
    if len(value) > MAX_TEXT:
        raise SuspensionError(f"Text must be {MAX_TEXT:,} characters or fewer")
    return value


def suspend(ctx: audit.AuditContext, provider, *, reason: SuspensionReason, description: str,
            starts_on: date, review_on: date | None = None, lot=None, setting=None,
            remedy: str = "", concern=None, automatic: bool = False,
            by_user_id: int | None = None) -> Suspension:
    """Suspend `provider` from `lot`, or from every lot when neither lot nor
    setting is given, or suspend one `setting`."""
    if lot is not None and setting is not None:
        raise SuspensionError("Suspend either a lot or a setting, not both")
    if setting is not None and setting.provider_id != provider.id:
        raise SuspensionError("That setting belongs to another provider")
    if concern is not None and concern.provider_id != provider.id:
        raise SuspensionError("That concern is about another provider")
    if not isinstance(reason, SuspensionReason):
        raise SuspensionError("Select the reason for the suspension")
    description = _text(description, "Enter a description of why the provider is suspended")
    remedy = _text(remedy, "", required=False)
    if review_on is not None and review_on <= starts_on:
        raise SuspensionError("The review date must be after the start date")
    suspension = Suspension(
        provider_id=provider.id, lot_id=lot.id if lot else None,
        setting_id=setting.id if setting else None, reason=reason,
        description=description, remedy=remedy, starts_on=starts_on,
        review_on=review_on, concern_id=concern.id if concern else None, automatic=automatic,
        created_by_id=by_user_id if by_user_id is not None else ctx.actor_id)
    db.session.add(suspension)
    db.session.flush()
    _sync(provider.id)
    audit.record(ctx, "provider.suspended", "suspension", suspension.id, provider_id=provider.id,
                 after={"lot_id": suspension.lot_id, "setting_id": suspension.setting_id,
                        "reason": reason.value, "starts_on": starts_on.isoformat(),
                        "review_on": review_on.isoformat() if review_on else None,
                        "remedy": remedy, "concern_id": suspension.concern_id,
                        "automatic": automatic},
                 reason=suspension.description)
    return suspension


def reinstate(ctx: audit.AuditContext, suspension: Suspension, note: str) -> None:
    """Lift a suspension (or call off one not yet started); a note saying what
    changed is required."""
    if suspension.lifted_at is not None:
        raise SuspensionError("This suspension has already been lifted")
    note = _text(note, "Enter a note saying why the provider can be reinstated")
    suspension.lifted_at = utcnow()
    suspension.lifted_by_id = ctx.actor_id
    suspension.lift_note = note
    db.session.flush()
    _sync(suspension.provider_id)
    audit.record(ctx, "provider.reinstated", "suspension", suspension.id,
                 provider_id=suspension.provider_id, before={"suspended": True},
                 after={"suspended": False}, reason=suspension.lift_note)


def start_due(ctx: audit.AuditContext, on: date | None = None) -> list[FlagChange]:
    """Bring into effect suspensions whose start date has come (the daily
    job). Safe to run twice: a provider whose flags already match changes
    nothing and records nothing."""
    on = on or today()
    provider_ids = db.session.execute(
        sa.select(Suspension.provider_id).distinct()
        .where(Suspension.lifted_at.is_(None), Suspension.starts_on <= on)
        .order_by(Suspension.provider_id)
    ).scalars().all()
    changed: list[FlagChange] = []
    for provider_id in provider_ids:
        changes = _sync(provider_id, on)
        if changes:
            audit.record(ctx, "provider.suspension_started", "provider", provider_id,
                         provider_id=provider_id, after={
                             "memberships_suspended": [c.id for c in changes
                                                       if c.kind == "membership" and c.suspended],
                             "settings_suspended": [c.id for c in changes
                                                    if c.kind == "setting" and c.suspended],
                             "on": on.isoformat()})
            changed += changes
    return changed


def _sync(provider_id: int, on: date | None = None) -> list[FlagChange]:
    """Recompute the denormalised flags from the suspensions in effect on
    `on` (today by default); returns what changed."""
    on = on or today()
    active = [s for s in active_suspensions(provider_id) if s.starts_on <= on]
    all_lots = any(s.lot_id is None and s.setting_id is None for s in active)
    lots = {s.lot_id for s in active if s.lot_id is not None}
    settings = {s.setting_id for s in active if s.setting_id is not None}
    changes: list[FlagChange] = []
    for membership in db.session.execute(
            sa.select(Membership).where(Membership.provider_id == provider_id)).scalars():
        if membership.status is MembershipStatus.REMOVED:
            continue
        suspended = all_lots or membership.lot_id in lots
        status = MembershipStatus.SUSPENDED if suspended else MembershipStatus.ACTIVE
        if membership.status is not status:
            membership.status = status
            changes.append(FlagChange("membership", membership.id, suspended))
    for setting in db.session.execute(
            sa.select(Setting).where(Setting.provider_id == provider_id)).scalars():
        suspended = setting.id in settings
        if setting.is_suspended != suspended:
            setting.is_suspended = suspended
            changes.append(FlagChange("setting", setting.id, suspended))
    return changes
