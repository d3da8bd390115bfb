"""Concerns and safeguarding alerts raised against a provider or setting.

Visible to the lead and every member authority; they move open ->
investigating -> closed (states.CONCERN_TRANSITIONS). Safeguarding alerts are
hidden from the provider unless a commissioner shares them; the provider
never learns who raised a concern.
"""
import sqlalchemy as sa

from app.domain import audit
from app.domain.states import (ConcernCategory, ConcernStatus, Role, Severity,
                               next_concern_status)
from app.extensions import db
from app.models import Concern, User, utcnow

MAX_TEXT = 5000
UNRESOLVED = (ConcernStatus.OPEN, ConcernStatus.INVESTIGATING)
# Commissioning managers are told at once about these (and every safeguarding alert).
ALERT_SEVERITIES = (Severity.HIGH, Severity.CRITICAL)
CONFLICT_MESSAGE = ("This concern has changed since you opened this page. Nothing was saved: "
                    "check the latest details and try again.")


class ConcernError(Exception):
    """A rule refused the change; the message is written for staff."""


class VersionConflict(ConcernError):
    """Someone changed the concern after this page was opened."""


def _text(value: str | None, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ConcernError(message)
    if len(value) > MAX_TEXT:
        raise ConcernError(f"The text must be {MAX_TEXT:,} characters or fewer")
    return value


def raise_concern(ctx: audit.AuditContext, provider, *, category: ConcernCategory,
                  severity: Severity, description: str, setting=None,
                  raised_by_id: int | None = None, authority_id: int | None = None,
                  source: str = "manual") -> Concern:
    if setting is not None and setting.provider_id != provider.id:
        raise ConcernError("That setting belongs to another provider")
    description = _text(description, "Enter a description of the concern")
    concern = Concern(provider_id=provider.id, setting_id=setting.id if setting else None,
                      category=category, severity=severity, description=description,
                      raised_by_id=raised_by_id if raised_by_id is not None else ctx.actor_id,
                      authority_id=authority_id, source=source)
    db.session.add(concern)
    db.session.flush()
    audit.record(ctx, "concern.raised", "concern", concern.id, provider_id=provider.id,
                 after={"category": category.value, "severity": severity.value,
                        "setting_id": concern.setting_id, "source": source,
                        "authority_id": authority_id},
                 reason=description, internal=True)
    return concern


def needs_alert(concern: Concern) -> bool:
    """Managers hear at once of serious concerns and of every safeguarding alert."""
    return (concern.category is ConcernCategory.SAFEGUARDING
            or concern.severity in ALERT_SEVERITIES)


def alert_addresses(concern: Concern, exclude_user_id: int | None = None) -> list[str]:
    """Who to email about a newly raised concern: active commissioning managers."""
    if not needs_alert(concern):
        return []
    q = sa.select(User.email).where(User.role == Role.MANAGER,
                                    User.is_active_account.is_(True))
    if exclude_user_id is not None:
        q = q.where(User.id != exclude_user_id)
    return db.session.execute(q.order_by(User.id)).scalars().all()


def check_version(concern: Concern, submitted) -> None:
    if str(submitted or "") != str(concern.version):
        raise VersionConflict(CONFLICT_MESSAGE)


def change_status(ctx: audit.AuditContext, concern: Concern, action: str, *, version,
                  outcome: str | None = None) -> ConcernStatus:
    """`investigate` or `close` (with the outcome) as the transitions allow."""
    check_version(concern, version)
    before = concern.status
    after = next_concern_status(before, action)
    if after is ConcernStatus.CLOSED:
        concern.outcome = _text(outcome, "Enter the outcome of the concern")
        concern.closed_at = utcnow()
    concern.status = after
    concern.updated_at = utcnow()
    audit.record(ctx, f"concern.{after.value}", "concern", concern.id,
                 provider_id=concern.provider_id, before={"status": before.value},
                 after={"status": after.value}, reason=concern.outcome if
                 after is ConcernStatus.CLOSED else None, internal=True)
    return after


def set_shared(ctx: audit.AuditContext, concern: Concern, shared: bool, *, version) -> None:
    """A commissioner decides whether the provider may see a safeguarding alert."""
    check_version(concern, version)
    if concern.category is not ConcernCategory.SAFEGUARDING:
        raise ConcernError("Only safeguarding alerts are hidden from the provider; the "
                           "provider already sees this concern.")
    if concern.shared_with_provider == shared:
        return
    concern.shared_with_provider = shared
    concern.updated_at = utcnow()
    audit.record(ctx, "concern.shared" if shared else "concern.unshared", "concern",
                 concern.id, provider_id=concern.provider_id,
                 before={"shared_with_provider": not shared},
                 after={"shared_with_provider": shared}, internal=True)


def visible_to_provider(concern: Concern) -> bool:
    return concern.category is not ConcernCategory.SAFEGUARDING or concern.shared_with_provider


def visible_to_provider_clause():
    """The SQL form of `visible_to_provider`."""
    return sa.or_(Concern.category != ConcernCategory.SAFEGUARDING,
                  Concern.shared_with_provider.is_(True))
