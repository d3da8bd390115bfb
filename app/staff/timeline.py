"""An application's history as a timeline, from the audit trail.

It gathers the events about the application itself, its lot evaluations,
clarifications and exclusion decisions, and the events about the provider's
documents and memberships that name this application (verification during
its evaluation, memberships from its decision), and words them for a reader:
staff see everything; the provider sees only events not marked internal,
and the lead authority's staff appear as "Lead authority", never by name.
A fixed number of queries, whatever the number of events.
"""
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app.applications.forms import ground_name
from app.domain.states import (ApplicationStatus, DocumentStatus, ExclusionOutcome,
                               LotEvaluationStatus, LotOutcome, MembershipStatus, Role)
from app.extensions import db
from app.models import (ApplicationLot, AuditEvent, Clarification, Document, ExclusionDecision,
                        Lot, LotEvaluation, User)

LEAD_AUTHORITY = "Lead authority"

ACTIONS = {
    "application.created": "Application started",
    "application.section_saved": "Section saved",
    "application.lots_changed": "Lots changed",
    "application.submitted": "Application submitted",
    "application.withdrawn": "Application withdrawn",
    "application.evaluation_started": "Evaluation started",
    "application.evaluator_assigned": "Evaluator assigned",
    "application.clarification_requested": "Clarification requested",
    "application.clarification_answered": "Clarification answered",
    "application.returned_to_evaluation": "Returned to evaluation",
    "application.recommended": "All lots recommended",
    "application.decided": "Decision made",
    "clarification.asked": "Clarification question asked",
    "clarification.answered": "Clarification question answered",
    "exclusion.decided": "Exclusion decision recorded",
    "lot_evaluation.criteria_checked": "Minimum criteria checked",
    "lot_evaluation.criterion_overridden": "Minimum criterion overridden",
    "lot_evaluation.scored": "Quality answers scored",
    "lot_evaluation.recommended": "Recommendation made",
    "lot_evaluation.returned": "Recommendation returned",
    "lot_evaluation.decided": "Recommendation confirmed",
    "document.verified": "Document verified",
    "document.rejected": "Document rejected",
    "membership.created": "Membership started",
    "membership.reactivated": "Membership started again",
    "membership.prices_set": "Prices set from this application",
}
FIELD_LABELS = {
    "evaluator_id": "Evaluator",
    "accepted": "Terms accepted",
    "rejection_reason": "Reason for rejecting",
    "questions_answered": "Questions answered",
    "decided_on": "Decided on",
    "started_on": "Started on",
    "valid_from": "Valid from",
}
# Values naming a member of staff: resolved to a name for staff, never shown to providers.
PERSON_KEYS = {"evaluator_id", "recommended_by_id", "moderated_by_id", "decided_by_id",
               "asked_by_id", "checked_by_id", "scored_by_id", "verified_by_id", "user_id"}
# Ids that only join records together: they mean nothing to a reader.
HIDDEN_KEYS = {"application_id", "decision_id", "closed_price_ids", "code"}
# Which enums word a stored value, by subject type and key (first that fits).
_ENUMS = {
    ("application", "status"): (ApplicationStatus,),
    ("lot_evaluation", "status"): (LotEvaluationStatus,),
    ("document", "status"): (DocumentStatus,),
    ("membership", "status"): (MembershipStatus,),
    ("lot_evaluation", "recommendation"): (LotOutcome,),
    ("lot_evaluation", "outcome"): (LotOutcome,),
    ("application", "outcome"): (ExclusionOutcome, LotOutcome),
}
# Events about these subjects belong to the application when they name it.
PROVIDER_SUBJECTS = ("document", "membership")


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None
    after: str


@dataclass(frozen=True)
class Entry:
    when: datetime
    action: str
    code: str
    who: str
    role: str | None
    subject: str | None
    reason: str | None
    internal: bool
    changes: list[Change] = field(default_factory=list)


def action_label(code: str) -> str:
    """The words for an action code; an unknown code is still readable."""
    if code in ACTIONS:
        return ACTIONS[code]
    noun, _, verb = code.partition(".")
    text = f"{noun.replace('_', ' ')}: {verb.replace('_', ' ')}" if verb else noun.replace("_", " ")
    return text[:1].upper() + text[1:]


def _subjects(application) -> dict[str, dict[int, str | None]]:
    """Subject type -> id -> what to call it on the timeline."""
    lot_evaluations = dict(db.session.execute(
        sa.select(LotEvaluation.id, Lot.number)
        .join(ApplicationLot, LotEvaluation.application_lot_id == ApplicationLot.id)
        .join(Lot, ApplicationLot.lot_id == Lot.id)
        .where(ApplicationLot.application_id == application.id)).all())
    clarifications = db.session.execute(
        sa.select(Clarification.id).where(Clarification.application_id == application.id)
    ).scalars().all()
    exclusions = db.session.execute(
        sa.select(ExclusionDecision.id).where(ExclusionDecision.application_id == application.id)
    ).scalars().all()
    return {
        "application": {application.id: None},
        "lot_evaluation": {i: f"Lot {n}" for i, n in lot_evaluations.items()},
        "clarification": {i: "Clarification" for i in clarifications},
        "exclusion_decision": {i: "Exclusion grounds" for i in exclusions},
    }


def _names_this_application(event: AuditEvent, application_id: int) -> bool:
    return any((values or {}).get("application_id") == application_id
               for values in (event.after, event.before))


def _events(application, subjects, for_provider: bool) -> list[AuditEvent]:
    clauses = [sa.and_(AuditEvent.subject_type == kind, AuditEvent.subject_id.in_(list(ids)))
               for kind, ids in subjects.items() if ids]
    clauses.append(sa.and_(AuditEvent.subject_type.in_(PROVIDER_SUBJECTS),
                           AuditEvent.provider_id == application.provider_id))
    q = sa.select(AuditEvent).where(sa.or_(*clauses))
    if for_provider:
        q = q.where(AuditEvent.internal.is_(False))
    events = db.session.execute(q.order_by(AuditEvent.id)).scalars().all()
    return [e for e in events if e.subject_type not in PROVIDER_SUBJECTS
            or _names_this_application(e, application.id)]


def _value(subject_type: str, key: str, value, names: dict[int, str]) -> str:
    if value is None or value == "":
        return "None"
    if key in PERSON_KEYS and isinstance(value, int):
        return names.get(value, "Unknown")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key in ("lots", "accepted") and isinstance(value, list):
        return ", ".join(f"Lot {n}" for n in value) or "None"
    if key == "outcomes" and isinstance(value, dict):
        return ", ".join(f"Lot {lot}: {_value('lot_evaluation', 'outcome', outcome, names)}"
                         for lot, outcome in value.items())
    if key == "ground" and isinstance(value, str):
        name = ground_name(value)
        return name[:1].upper() + name[1:]
    if isinstance(value, str):
        for enum_cls in _ENUMS.get((subject_type, key), ()):
            if value in {m.value for m in enum_cls}:
                return enum_cls(value).label
        return value.replace("_", " ") if key == "section" else value
    if isinstance(value, list):
        return "; ".join(_value(subject_type, key, v, names) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in value.items()
                         if k not in HIDDEN_KEYS)
    return str(value)


def _changes(event: AuditEvent, names: dict[int, str], for_provider: bool) -> list[Change]:
    before, after = event.before or {}, event.after or {}
    changes = []
    for key in dict.fromkeys([*after, *before]):
        if key in HIDDEN_KEYS:
            continue
        if for_provider and (key in PERSON_KEYS or key.endswith("_by_id")):
            continue
        label = FIELD_LABELS.get(key, key.removesuffix("_id").replace("_", " ").capitalize())
        was = _value(event.subject_type, key, before[key], names) if key in before else None
        now = _value(event.subject_type, key, after[key], names) if key in after else "Removed"
        changes.append(Change(label, was, now))
    return changes


def _role(value: str | None) -> Role | None:
    try:
        return Role(value) if value else None
    except ValueError:
        return None


def timeline(application, *, for_provider: bool) -> list[Entry]:
    """The events of `application`, oldest first."""
    subjects = _subjects(application)
    events = _events(application, subjects, for_provider)
    document_ids = {e.subject_id for e in events if e.subject_type == "document"}
    if document_ids:
        subjects["document"] = {i: kind.label for i, kind in db.session.execute(
            sa.select(Document.id, Document.kind).where(Document.id.in_(document_ids))).all()}
    for e in events:
        if e.subject_type == "membership":
            lot = (e.after or {}).get("lot")
            subjects.setdefault("membership", {})[e.subject_id] = f"Lot {lot}" if lot else None

    people = {e.actor_id for e in events if e.actor_id}
    for e in events:
        for values in (e.before or {}, e.after or {}):
            people |= {v for k, v in values.items() if k in PERSON_KEYS and isinstance(v, int)}
    users = {u.id: u for u in db.session.execute(
        sa.select(User).where(User.id.in_(people))).scalars()} if people else {}
    names = {i: u.full_name for i, u in users.items()}

    entries = []
    for e in events:
        actor = users.get(e.actor_id)
        role = _role(e.actor_role)
        if actor is None:
            who = "System" if e.actor_role in (None, "system") else LEAD_AUTHORITY
            role_label = None
        elif for_provider and actor.is_staff:
            who, role_label = LEAD_AUTHORITY, None
        else:
            who, role_label = actor.full_name, role.label if role else None
        entries.append(Entry(
            when=e.occurred_at, action=action_label(e.action), code=e.action, who=who,
            role=role_label, subject=subjects.get(e.subject_type, {}).get(e.subject_id),
            reason=e.reason, internal=e.internal,
            changes=_changes(e, names, for_provider)))
    return entries
