"""Removing (barring) a provider from a lot or from every lot, with four eyes.

An evaluator or commissioning manager requests a removal with its ground; a
different commissioning manager confirms or cancels it. On confirmation the
memberships concerned become REMOVED: the provider is barred and is never
offered again (suspension syncing leaves removed memberships alone).

The rules live here, not in the views, so a POST that never saw the page is
refused the same way.
"""
import sqlalchemy as sa

from app.domain import audit
from app.domain.states import MembershipStatus, RemovalStatus, Role, next_status
from app.extensions import db
from app.models import Membership, Removal, utcnow

MAX_TEXT = 5000
REQUESTER_ROLES = (Role.EVALUATOR, Role.MANAGER)
FOUR_EYES_MESSAGE = ("You requested this removal, so a different commissioning manager must "
                     "confirm or cancel it.")
MANAGER_ONLY_MESSAGE = "Only a commissioning manager can confirm or cancel a removal."

# The lifecycle of a removal; kept beside its rules as no other module moves it.
REMOVAL_TRANSITIONS: dict[tuple[RemovalStatus, str], RemovalStatus] = {
    (RemovalStatus.PENDING, "confirm"): RemovalStatus.CONFIRMED,
    (RemovalStatus.PENDING, "cancel"): RemovalStatus.CANCELLED,
}
LABELS = {RemovalStatus.PENDING: "Awaiting a second manager",
          RemovalStatus.CONFIRMED: "Removed", RemovalStatus.CANCELLED: "Cancelled"}


class RemovalError(Exception):
    """A rule refused the action; the message is written for staff."""


class FourEyesViolation(RemovalError):
    """The person who requested a removal tried to decide it."""


class NotAManager(RemovalError):
    """Only commissioning managers decide removals."""


def next_removal_status(current: RemovalStatus, action: str) -> RemovalStatus:
    return next_status(REMOVAL_TRANSITIONS, current, action, "a removal", LABELS[current])


def _required(text: str | None, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise RemovalError(message)
    if len(text) > MAX_TEXT:
        raise RemovalError(f"The text must be {MAX_TEXT:,} characters or fewer")
    return text


def _memberships(provider_id: int, lot_id: int | None) -> list[Membership]:
    """The memberships a removal from `lot_id` (or every lot) would end."""
    q = sa.select(Membership).where(Membership.provider_id == provider_id,
                                    Membership.status != MembershipStatus.REMOVED)
    if lot_id is not None:
        q = q.where(Membership.lot_id == lot_id)
    return db.session.execute(q.order_by(Membership.lot_id)).scalars().all()


def request_removal(ctx: audit.AuditContext, provider, *, ground: str, requested_by,
                    lot=None) -> Removal:
    """Ask for `provider` to be removed from `lot` (every lot when None)."""
    if requested_by.role not in REQUESTER_ROLES:
        raise RemovalError("Only an evaluator or commissioning manager can request a removal.")
    ground = _required(ground, "Enter the ground for removing the provider")
    lot_id = lot.id if lot is not None else None
    if not _memberships(provider.id, lot_id):
        raise RemovalError(f"{provider.display_name} holds no place on "
                           f"{lot.title if lot else 'any lot'} to remove them from.")
    pending = db.session.execute(
        sa.select(Removal).where(Removal.provider_id == provider.id,
                                 Removal.status == RemovalStatus.PENDING)
    ).scalars().all()
    if any(r.lot_id is None or r.lot_id == lot_id for r in pending) or \
            (lot_id is None and pending):
        raise RemovalError("A removal of this provider is already waiting for a decision: "
                           "confirm or cancel that one first.")
    removal = Removal(provider_id=provider.id, lot_id=lot_id, ground=ground,
                      requested_by_id=requested_by.id)
    db.session.add(removal)
    db.session.flush()
    audit.record(ctx, "removal.requested", "removal", removal.id, provider_id=provider.id,
                 after={"lot_id": lot_id, "status": removal.status.value}, reason=ground,
                 internal=True)
    return removal


def can_decide(removal: Removal, user) -> bool:
    """The four-eyes rule as the page shows it; `check_decider` enforces it."""
    return user.role is Role.MANAGER and removal.requested_by_id != user.id


def check_decider(removal: Removal, user) -> None:
    if user.role is not Role.MANAGER:
        raise NotAManager(MANAGER_ONLY_MESSAGE)
    if removal.requested_by_id == user.id:
        raise FourEyesViolation(FOUR_EYES_MESSAGE)


def confirm(ctx: audit.AuditContext, removal: Removal, decider, *,
            note: str = "") -> list[Membership]:
    """A second manager confirms: the memberships concerned become REMOVED.
    Returns them."""
    check_decider(removal, decider)
    status = next_removal_status(removal.status, "confirm")
    memberships = _memberships(removal.provider_id, removal.lot_id)
    if not memberships:
        raise RemovalError("The provider no longer holds a place this removal applies to: "
                           "cancel it instead.")
    removal.status = status
    removal.decided_by_id = decider.id
    removal.decided_at = utcnow()
    removal.decision_note = (note or "").strip() or None
    for membership in memberships:
        before = membership.status
        membership.status = MembershipStatus.REMOVED
        audit.record(ctx, "membership.removed", "membership", membership.id,
                     provider_id=removal.provider_id,
                     before={"status": before.value},
                     after={"status": MembershipStatus.REMOVED.value, "lot_id": membership.lot_id,
                            "removal_id": removal.id},
                     reason=removal.ground)
    audit.record(ctx, "removal.confirmed", "removal", removal.id,
                 provider_id=removal.provider_id,
                 before={"status": RemovalStatus.PENDING.value},
                 after={"status": status.value, "lot_id": removal.lot_id,
                        "memberships": [m.id for m in memberships],
                        "requested_by_id": removal.requested_by_id,
                        "note": removal.decision_note},
                 reason=removal.ground)
    return memberships


def cancel(ctx: audit.AuditContext, removal: Removal, decider, *, note: str) -> None:
    """A second manager decides not to remove the provider; a note is required."""
    check_decider(removal, decider)
    note = _required(note, "Enter a note saying why the removal is cancelled")
    status = next_removal_status(removal.status, "cancel")
    removal.status = status
    removal.decided_by_id = decider.id
    removal.decided_at = utcnow()
    removal.decision_note = note
    audit.record(ctx, "removal.cancelled", "removal", removal.id,
                 provider_id=removal.provider_id,
                 before={"status": RemovalStatus.PENDING.value},
                 after={"status": status.value, "lot_id": removal.lot_id},
                 reason=note, internal=True)
