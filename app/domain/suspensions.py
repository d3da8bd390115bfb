"""Suspending and reinstating providers: from one lot, from every lot, or a
single setting. A suspended provider or setting is never offered as available.

Memberships and settings carry the denormalised state (Membership.status,
Setting.is_suspended) so searches filter on a column; this module is the one
place that keeps them in step with the Suspension rows.
"""
from datetime import date

import sqlalchemy as sa

from app.domain import audit
from app.domain.states import MembershipStatus, SuspensionReason
from app.extensions import db
from app.models import Membership, Setting, Suspension, utcnow


class SuspensionError(Exception):
    """A rule refused the change; the message is written for staff."""


def active_suspensions(provider_id: int) -> list[Suspension]:
    return db.session.execute(
        sa.select(Suspension).where(Suspension.provider_id == provider_id,
                                    Suspension.lifted_at.is_(None))
        .order_by(Suspension.starts_on, Suspension.id)
    ).scalars().all()


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
    if review_on is not None and review_on < starts_on:
        raise SuspensionError("The review date must be on or after the start date")
    suspension = Suspension(
        provider_id=provider.id, lot_id=lot.id if lot else None,
        setting_id=setting.id if setting else None, reason=reason,
        description=description.strip(), remedy=(remedy or "").strip(), starts_on=starts_on,
        review_on=review_on, concern_id=concern.id if concern else None, automatic=automatic,
        created_by_id=by_user_id if by_user_id is not None else ctx.actor_id)
    db.session.add(suspension)
    db.session.flush()
    _sync(provider.id)
    audit.record(ctx, "provider.suspended", "suspension", suspension.id, provider_id=provider.id,
                 after={"lot_id": suspension.lot_id, "setting_id": suspension.setting_id,
                        "reason": reason.value, "starts_on": starts_on.isoformat(),
                        "review_on": review_on.isoformat() if review_on else None,
                        "automatic": automatic},
                 reason=suspension.description)
    return suspension


def reinstate(ctx: audit.AuditContext, suspension: Suspension, note: str) -> None:
    """Lift a suspension; a note saying what changed is required."""
    if suspension.lifted_at is not None:
        raise SuspensionError("This suspension has already been lifted")
    if not (note or "").strip():
        raise SuspensionError("Enter a note saying why the provider can be reinstated")
    suspension.lifted_at = utcnow()
    suspension.lifted_by_id = ctx.actor_id
    suspension.lift_note = note.strip()
    db.session.flush()
    _sync(suspension.provider_id)
    audit.record(ctx, "provider.reinstated", "suspension", suspension.id,
                 provider_id=suspension.provider_id, before={"suspended": True},
                 after={"suspended": False}, reason=suspension.lift_note)


def _sync(provider_id: int) -> None:
    """Recompute the denormalised flags from the provider's active suspensions."""
    active = active_suspensions(provider_id)
    all_lots = any(s.lot_id is None and s.setting_id is None for s in active)
    lots = {s.lot_id for s in active if s.lot_id is not None}
    settings = {s.setting_id for s in active if s.setting_id is not None}
    for membership in db.session.execute(
            sa.select(Membership).where(Membership.provider_id == provider_id)).scalars():
        if membership.status is MembershipStatus.REMOVED:
            continue
        suspended = all_lots or membership.lot_id in lots
        membership.status = MembershipStatus.SUSPENDED if suspended else MembershipStatus.ACTIVE
    for setting in db.session.execute(
            sa.select(Setting).where(Setting.provider_id == provider_id)).scalars():
        setting.is_suspended = setting.id in settings
