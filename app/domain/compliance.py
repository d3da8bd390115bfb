"""Keeping approved providers compliant: the daily evidence expiry check and
the figures behind the compliance dashboard.

The expiry check is safe to run twice or to miss a day: each reminder is
recorded once per document and threshold (ExpiryReminder), the most urgent
threshold reached is the only one sent, and compliance is recomputed from the
provider's current documents on every run. It never commits and never sends
email itself: it adds the messages to send to the caller's `outbox` list, and
the caller sends them once its commit has made the changes durable.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.domain import audit
from app.domain.evidence import current_documents
from app.domain.reference import DocumentKind
from app.domain.states import (ComplianceStatus, ConcernStatus, DocumentStatus, MembershipStatus,
                               Role, SuspensionReason)
from app.domain.suspensions import reinstate, start_due, suspend
from app.email import unique_addresses
from app.extensions import db
from app.models import (Concern, Document, ExpiryReminder, Lot, Membership, Provider, Suspension,
                        User, utcnow)

# Days before expiry at which the provider is reminded, least urgent first.
THRESHOLDS = (60, 30, 7)
EXPIRED = 0  # ExpiryReminder.days_before of the expiry notice
EXPIRING_WITHIN_DAYS = 30
CHECKED_KINDS = (DocumentKind.PUBLIC_LIABILITY, DocumentKind.EMPLOYERS_LIABILITY,
                 DocumentKind.PROFESSIONAL_INDEMNITY)
# Non-compliance this module records starts with this, so it only ever
# restores what it marked (not, say, a commissioner's own finding).
REASON_PREFIX = "Expired evidence"
RESTORE_NOTE = "Renewed evidence verified"
SUSPENSION_REMEDY = ("Upload the renewed certificate in your evidence library. We will lift "
                     "this suspension once it has been verified.")
CURRENT_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED)
USABLE = (DocumentStatus.AWAITING_CHECK, DocumentStatus.VERIFIED)
BATCH_SIZE = 25

Progress = Callable[[int, int], None]


@dataclass
class Outgoing:
    """An email to send after commit. `links` maps a template variable to an
    (endpoint, values) pair the sender turns into an absolute URL."""
    to: str
    template: str
    context: dict
    links: dict = field(default_factory=dict)


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def member_provider_ids():
    """Providers holding a membership that is not removed, as a subquery."""
    return (sa.select(Membership.provider_id)
            .where(Membership.status.in_(CURRENT_STATUSES)).distinct())


# ----------------------------------------------------------------- the check

def run_expiry_check(ctx: audit.AuditContext, on: date, progress: Progress | None = None,
                     outbox: list | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Check every member provider's insurance on `on`; return the report.

    Providers are handled in batches (a few queries each); `progress(done,
    total)` is called after each batch, at a point where the caller may commit
    and then send what was added to `outbox`.
    """
    outbox = outbox if outbox is not None else []
    provider_ids = db.session.execute(
        member_provider_ids().order_by(Membership.provider_id)).scalars().all()
    managers = _manager_addresses()
    report = {"on": on.isoformat(), "providers": len(provider_ids), "documents": 0,
              "reminders": [], "expired": [], "non_compliant": [], "suspended": [],
              "restored": []}
    # Suspensions a commissioner dated in the future take effect on their day.
    started = start_due(ctx, on)
    report["suspensions_started"] = sorted({c.id for c in started if c.kind == "membership"})
    if progress:
        progress(0, len(provider_ids))
    for start in range(0, len(provider_ids), batch_size):
        batch = provider_ids[start:start + batch_size]
        _check_batch(ctx, on, batch, managers, report, outbox)
        if progress:
            progress(start + len(batch), len(provider_ids))
    return report


def _manager_addresses() -> list[str]:
    return unique_addresses(db.session.execute(
        sa.select(User.email).where(User.role == Role.MANAGER, User.is_active_account.is_(True))
        .order_by(User.id)).scalars())


@dataclass
class _ProviderFacts:
    provider: Provider
    memberships: list = field(default_factory=list)
    documents: list = field(default_factory=list)
    admin_emails: list = field(default_factory=list)
    auto_suspensions: list = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        return unique_addresses([*self.admin_emails, self.provider.contact_email])


def _load_batch(provider_ids: list[int]) -> dict[int, _ProviderFacts]:
    memberships = db.session.execute(
        sa.select(Membership).where(Membership.provider_id.in_(provider_ids),
                                    Membership.status.in_(CURRENT_STATUSES))
        .options(joinedload(Membership.provider), joinedload(Membership.lot))
        .join(Lot, Lot.id == Membership.lot_id)
        .order_by(Membership.provider_id, Lot.number)).scalars().all()
    facts: dict[int, _ProviderFacts] = {}
    for m in memberships:
        facts.setdefault(m.provider_id, _ProviderFacts(m.provider)).memberships.append(m)
    for doc in db.session.execute(
            sa.select(Document).where(Document.provider_id.in_(provider_ids),
                                      Document.kind.in_(CHECKED_KINDS),
                                      Document.status.in_(USABLE))).scalars():
        facts[doc.provider_id].documents.append(doc)
    for provider_id, email in db.session.execute(
            sa.select(User.provider_id, User.email)
            .where(User.provider_id.in_(provider_ids), User.role == Role.PROVIDER_ADMIN,
                   User.is_active_account.is_(True)).order_by(User.id)):
        facts[provider_id].admin_emails.append(email)
    for s in db.session.execute(
            sa.select(Suspension).where(Suspension.provider_id.in_(provider_ids),
                                        Suspension.lifted_at.is_(None),
                                        Suspension.automatic.is_(True),
                                        Suspension.reason == SuspensionReason.EXPIRED_EVIDENCE)
    ).scalars():
        facts[s.provider_id].auto_suspensions.append(s)
    return facts


def _check_batch(ctx, on: date, provider_ids: list[int], managers: list[str], report: dict,
                 outbox: list) -> None:
    facts = _load_batch(provider_ids)
    doc_ids = [d.id for f in facts.values() for d in f.documents]
    sent: set[tuple[int, int]] = set()
    if doc_ids:
        sent = {(doc_id, days) for doc_id, days in db.session.execute(
            sa.select(ExpiryReminder.document_id, ExpiryReminder.days_before)
            .where(ExpiryReminder.document_id.in_(doc_ids)))}
    for provider_id in provider_ids:
        if provider_id in facts:
            _check_provider(ctx, on, facts[provider_id], sent, managers, report, outbox)


def _current_insurance(documents) -> dict[DocumentKind, Document]:
    current = current_documents(documents)
    return {kind: current[(kind, None)] for kind in CHECKED_KINDS if (kind, None) in current}


def due_threshold(expires_on: date, on: date) -> int | None:
    """The most urgent reminder threshold reached on `on`, or None (not yet
    within 60 days, or already expired)."""
    days = (expires_on - on).days
    if days < 0:
        return None
    reached = [t for t in THRESHOLDS if days <= t]
    return min(reached) if reached else None


def _check_provider(ctx, on: date, facts: _ProviderFacts, sent: set, managers: list[str],
                    report: dict, outbox: list) -> None:
    provider = facts.provider
    current = _current_insurance(facts.documents)
    report["documents"] += sum(1 for d in current.values() if d.expires_on is not None)
    expired = sorted((d for d in current.values() if d.expires_on and d.expires_on < on),
                     key=lambda d: (d.expires_on, d.kind.value))
    for doc in current.values():
        if doc.expires_on is None or doc in expired:
            continue
        threshold = due_threshold(doc.expires_on, on)
        # A more urgent reminder already sent covers this one too (days only go down).
        if threshold is None or any((doc.id, t) in sent for t in THRESHOLDS if t <= threshold):
            continue
        _record_reminder(doc, threshold, sent)
        report["reminders"].append(_doc_entry(provider, doc, days_before=threshold))
        for to in facts.recipients:
            outbox.append(Outgoing(to, "expiry_reminder", {
                "provider_name": provider.display_name, "contact_name": provider.contact_name,
                "label": doc.kind.label, "expires_on": doc.expires_on,
                "days": (doc.expires_on - on).days, "insurer": doc.insurer,
                "policy_number": doc.policy_number},
                links={"link": ("evidence.upload", {"kind": doc.kind.value})}))

    reason = _reason(expired)
    memberships = facts.memberships
    newly_expired = [d for d in expired if (d.id, EXPIRED) not in sent]
    for membership in memberships:
        if expired:
            since = expired[0].expires_on + timedelta(days=1)  # the first day without cover
            if _mark_non_compliant(ctx, membership, reason, since):
                report["non_compliant"].append(_membership_entry(membership))
        elif _is_ours(membership) and _passes(current, membership.lot, on):
            _restore(ctx, membership, facts, report, outbox)
    for doc in newly_expired:
        _record_reminder(doc, EXPIRED, sent)
        report["expired"].append(_doc_entry(provider, doc, days_before=EXPIRED))
        lots = [m.lot.title for m in memberships]
        for to in facts.recipients:
            outbox.append(Outgoing(to, "expiry_expired", {
                "provider_name": provider.display_name, "contact_name": provider.contact_name,
                "label": doc.kind.label, "expires_on": doc.expires_on, "lots": lots},
                links={"link": ("evidence.upload", {"kind": doc.kind.value})}))
        for to in managers:
            outbox.append(Outgoing(to, "compliance_non_compliant", {
                "provider_name": provider.display_name, "label": doc.kind.label,
                "expires_on": doc.expires_on, "lots": lots,
                "grace": _grace_text(memberships)},
                links={"link": ("contract.provider", {"provider_id": provider.id})}))
    for membership in memberships:
        if (membership.compliance is ComplianceStatus.NON_COMPLIANT and _is_ours(membership)
                and not _passes(current, membership.lot, on)):
            _auto_suspend(ctx, on, membership, facts, managers, report, outbox)


def _record_reminder(doc: Document, days_before: int, sent: set) -> None:
    db.session.add(ExpiryReminder(document_id=doc.id, days_before=days_before))
    sent.add((doc.id, days_before))


def _reason(expired: list[Document]) -> str:
    parts = [f"{d.kind.label} expired on {_day(d.expires_on)}" for d in expired]
    return f"{REASON_PREFIX}: {'; '.join(parts)}" if parts else ""


def _is_ours(membership: Membership) -> bool:
    return (membership.non_compliance_reason or "").startswith(REASON_PREFIX)


def _grace_text(memberships) -> str:
    days = sorted({m.lot.auto_suspend_after_days for m in memberships
                   if m.lot.auto_suspend_after_days is not None})
    if not days:
        return ""
    return (f"Unless renewed evidence is verified first, the provider will be suspended "
            f"automatically after {days[0]} days of non-compliance.")


def _passes(current: dict, lot: Lot, on: date) -> bool:
    """Every insurance present, verified, in date and at or above the lot's minimum."""
    minimums = lot.insurance_minimums()
    for kind in CHECKED_KINDS:
        doc = current.get(kind)
        if (doc is None or doc.status is not DocumentStatus.VERIFIED or doc.expires_on is None
                or doc.expires_on < on):
            return False
        minimum = minimums.get(kind)
        if minimum is not None and (doc.cover_amount is None or doc.cover_amount < minimum):
            return False
    return True


def _mark_non_compliant(ctx, membership: Membership, reason: str, since: date) -> bool:
    """Mark non-compliant; True when it was compliant. An existing finding of
    ours keeps its date but follows the documents that are now expired."""
    if membership.compliance is ComplianceStatus.NON_COMPLIANT:
        if _is_ours(membership) and membership.non_compliance_reason != reason:
            before = membership.non_compliance_reason
            membership.non_compliance_reason = reason
            audit.record(ctx, "membership.non_compliance_updated", "membership", membership.id,
                         provider_id=membership.provider_id, before={"reason": before},
                         after={"reason": reason})
        return False
    membership.compliance = ComplianceStatus.NON_COMPLIANT
    membership.non_compliant_since = since
    membership.non_compliance_reason = reason
    audit.record(ctx, "membership.non_compliant", "membership", membership.id,
                 provider_id=membership.provider_id,
                 before={"compliance": ComplianceStatus.COMPLIANT.value},
                 after={"compliance": ComplianceStatus.NON_COMPLIANT.value,
                        "non_compliant_since": since.isoformat(), "lot_id": membership.lot_id},
                 reason=reason)
    return True


def _restore(ctx, membership: Membership, facts: _ProviderFacts, report: dict,
             outbox: list) -> None:
    before = {"compliance": membership.compliance.value,
              "non_compliant_since": (membership.non_compliant_since.isoformat()
                                      if membership.non_compliant_since else None),
              "reason": membership.non_compliance_reason}
    membership.compliance = ComplianceStatus.COMPLIANT
    membership.non_compliant_since = None
    membership.non_compliance_reason = None
    audit.record(ctx, "membership.compliance_restored", "membership", membership.id,
                 provider_id=membership.provider_id, before=before,
                 after={"compliance": ComplianceStatus.COMPLIANT.value}, reason=RESTORE_NOTE)
    lifted = False
    for s in list(facts.auto_suspensions):
        if s.lot_id == membership.lot_id and s.lifted_at is None:
            reinstate(ctx, s, RESTORE_NOTE)
            facts.auto_suspensions.remove(s)
            lifted = True
    report["restored"].append(dict(_membership_entry(membership), reinstated=lifted))
    for to in facts.recipients:
        outbox.append(Outgoing(to, "compliance_restored", {
            "provider_name": facts.provider.display_name,
            "contact_name": facts.provider.contact_name, "lot": membership.lot.title,
            "reinstated": lifted}))


def _auto_suspend(ctx, on: date, membership: Membership, facts: _ProviderFacts,
                  managers: list[str], report: dict, outbox: list) -> None:
    lot = membership.lot
    grace = lot.auto_suspend_after_days
    since = membership.non_compliant_since
    if grace is None or since is None or (on - since).days < grace:
        return
    # Once: never while an automatic one for this lot is active, nor on top of
    # a commissioner's suspension (if that is lifted first, the next run suspends).
    if membership.status is not MembershipStatus.ACTIVE:
        return
    if any(s.lot_id == lot.id for s in facts.auto_suspensions):
        return
    provider = facts.provider
    description = (f"{membership.non_compliance_reason}. The renewed certificate was not "
                   f"verified within the {grace}-day grace period.")
    suspension = suspend(ctx, provider, lot=lot, reason=SuspensionReason.EXPIRED_EVIDENCE,
                         description=description, remedy=SUSPENSION_REMEDY, starts_on=on,
                         automatic=True)
    facts.auto_suspensions.append(suspension)
    report["suspended"].append(dict(_membership_entry(membership), suspension_id=suspension.id))
    context = {"provider_name": provider.display_name, "contact_name": provider.contact_name,
               "lot": lot.title, "description": description, "remedy": SUSPENSION_REMEDY,
               "starts_on": on}
    for to in facts.recipients:
        outbox.append(Outgoing(to, "compliance_suspended", context,
                               links={"link": ("evidence.library", {})}))
    for to in managers:
        outbox.append(Outgoing(to, "compliance_suspended_staff", context,
                               links={"link": ("contract.provider", {"provider_id": provider.id})}))


def _doc_entry(provider: Provider, doc: Document, *, days_before: int) -> dict:
    return {"provider_id": provider.id, "provider_name": provider.display_name,
            "document_id": doc.id, "kind": doc.kind.label,
            "expires_on": doc.expires_on.isoformat(), "days_before": days_before}


def _membership_entry(membership: Membership) -> dict:
    return {"membership_id": membership.id, "provider_id": membership.provider_id,
            "provider_name": membership.provider.display_name, "lot": membership.lot.title}


# ----------------------------------------------------- verifying a renewal

class ComplianceError(Exception):
    """A rule refused the change; the message is written for staff."""


def verify_renewal(ctx: audit.AuditContext, document: Document, user_id: int) -> None:
    """A commissioner checks a member provider's renewed insurance certificate.

    Compliance itself is restored by the expiry check (`restore_provider`),
    which the caller runs next so the provider does not wait for tomorrow.
    """
    if document.kind not in CHECKED_KINDS:
        raise ComplianceError("Only insurance certificates are checked here")
    if document.status is not DocumentStatus.AWAITING_CHECK:
        raise ComplianceError("This certificate has already been checked or replaced")
    on_dps = db.session.execute(
        sa.select(Membership.id).where(Membership.provider_id == document.provider_id,
                                       Membership.status.in_(CURRENT_STATUSES)).limit(1)
    ).scalar_one_or_none()
    if on_dps is None:
        # An applicant's evidence is checked in the evaluation of its application.
        raise ComplianceError("This provider is not on the DPS: check its evidence in the "
                              "evaluation of its application")
    before = {"status": document.status.value}
    document.status = DocumentStatus.VERIFIED
    document.verified_by_id = user_id
    document.verified_at = utcnow()
    audit.record(ctx, "document.verified", "document", document.id,
                 provider_id=document.provider_id, before=before,
                 after={"status": document.status.value, "source": "compliance"})


def recheck_provider(ctx: audit.AuditContext, provider_id: int, on: date,
                     outbox: list | None = None) -> dict:
    """Run the expiry check for one provider (after a renewal is verified)."""
    outbox = outbox if outbox is not None else []
    report = {"on": on.isoformat(), "providers": 1, "documents": 0, "reminders": [],
              "expired": [], "non_compliant": [], "suspended": [], "restored": []}
    _check_batch(ctx, on, [provider_id], _manager_addresses(), report, outbox)
    return report


# ------------------------------------------------------------ the dashboard

def membership_counts() -> dict[str, int]:
    """Memberships by state (removed ones left out) and how many are non-compliant."""
    counts = {"active": 0, "suspended": 0, "non_compliant": 0}
    for status, n in db.session.execute(
            sa.select(Membership.status, sa.func.count())
            .where(Membership.status.in_(CURRENT_STATUSES)).group_by(Membership.status)):
        counts[status.value] = n
    counts["non_compliant"] = db.session.execute(
        sa.select(sa.func.count()).select_from(Membership)
        .where(Membership.status.in_(CURRENT_STATUSES),
               Membership.compliance == ComplianceStatus.NON_COMPLIANT)).scalar_one()
    return counts


def open_concern_count() -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Concern)
        .where(Concern.status == ConcernStatus.OPEN)).scalar_one()


def _member_current_insurance(candidates) -> list[Document]:
    """The current insurance documents of member providers that have at least
    one document matching `candidates` (extra WHERE clauses)."""
    providers = (sa.select(Document.provider_id)
                 .where(Document.provider_id.in_(member_provider_ids()),
                        Document.kind.in_(CHECKED_KINDS), Document.status.in_(USABLE),
                        *candidates))
    documents = db.session.execute(
        sa.select(Document).where(Document.provider_id.in_(providers),
                                  Document.kind.in_(CHECKED_KINDS), Document.status.in_(USABLE))
        .options(joinedload(Document.provider))).scalars().all()
    by_provider: dict[int, list] = {}
    for doc in documents:
        by_provider.setdefault(doc.provider_id, []).append(doc)
    current = []
    for docs in by_provider.values():
        current += _current_insurance(docs).values()
    return current


def expiring_documents(on: date, within_days: int = EXPIRING_WITHIN_DAYS) -> list[Document]:
    """Member providers' current insurance expiring from `on` to `within_days`
    later, soonest first."""
    last = on + timedelta(days=within_days)
    docs = [d for d in _member_current_insurance([Document.expires_on.between(on, last)])
            if d.expires_on is not None and on <= d.expires_on <= last]
    return sorted(docs, key=lambda d: (d.expires_on, d.provider.display_name, d.kind.value))


def renewals_awaiting_check() -> list[Document]:
    """Member providers' current insurance uploaded and not yet checked."""
    docs = [d for d in _member_current_insurance(
        [Document.status == DocumentStatus.AWAITING_CHECK])
        if d.status is DocumentStatus.AWAITING_CHECK]
    return sorted(docs, key=lambda d: (d.uploaded_at, d.id))
