"""The append-only audit trail: who did what, when and why.

Each event stores the hash of its own content and of the previous event, so
altering or removing any record breaks the chain, which `verify_chain` finds.
Nothing here updates or deletes an event.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditContext:
    actor_id: int | None = None
    actor_role: str | None = None
    request_id: str | None = None
    ip_address: str | None = None


SYSTEM = AuditContext(actor_role="system")


def _digest(fields: dict, prev_hash: str) -> str:
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(e: AuditEvent) -> dict:
    return {
        "occurred_at": e.occurred_at.isoformat() if isinstance(e.occurred_at, datetime) else e.occurred_at,
        "actor_id": e.actor_id, "actor_role": e.actor_role, "action": e.action,
        "subject_type": e.subject_type, "subject_id": e.subject_id, "provider_id": e.provider_id,
        "before": e.before, "after": e.after, "reason": e.reason, "internal": e.internal,
        "request_id": e.request_id, "ip_address": e.ip_address,
    }


def record(ctx: AuditContext, action: str, subject_type: str, subject_id: int, *,
           provider_id: int | None = None, before: dict | None = None,
           after: dict | None = None, reason: str | None = None,
           internal: bool = False) -> AuditEvent:
    """Add an event to the session; the caller's commit makes it durable."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Serialise writers so two transactions never chain onto the same event.
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(7263001)"))
    else:
        db.session.flush()
    prev = db.session.execute(
        sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none() or GENESIS
    event = AuditEvent(
        occurred_at=utcnow().replace(microsecond=0), actor_id=ctx.actor_id,
        actor_role=ctx.actor_role, action=action, subject_type=subject_type,
        subject_id=subject_id, provider_id=provider_id, before=before, after=after,
        reason=reason, internal=internal, request_id=ctx.request_id,
        ip_address=ctx.ip_address, prev_hash=prev,
    )
    event.hash = _digest(_fields(event), prev)
    db.session.add(event)
    db.session.flush()
    return event


def verify_chain(batch: int = 5000) -> tuple[int, list[int]]:
    """Walk the whole trail in id order; return (events checked, ids that fail)."""
    bad: list[int] = []
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            return checked, bad
        for e in rows:
            if e.prev_hash != prev or _digest(_fields(e), e.prev_hash) != e.hash:
                bad.append(e.id)
            prev = e.hash
            checked += 1
            last_id = e.id
        db.session.expunge_all()


def history(subject_type: str, subject_id: int, include_internal: bool = True):
    q = sa.select(AuditEvent).where(AuditEvent.subject_type == subject_type,
                                    AuditEvent.subject_id == subject_id)
    if not include_internal:
        q = q.where(AuditEvent.internal.is_(False))
    return db.session.execute(q.order_by(AuditEvent.id)).scalars().all()
