"""Versions of an application as an evaluator compares them, and what changed
between two versions.

A snapshot is taken when an application is submitted and whenever the
provider answers a clarification. It holds plain JSON: for each section, an
item label mapped to a text value (or, for documents, declarations and
clarifications, to a small dict of texts), in the order the application shows
them. `diff` compares two such dicts without touching the database.
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.domain import applications as rules
from app.domain.declarations import GROUNDS
from app.domain.reference import DocumentKind
from app.domain.states import DocumentStatus
from app.extensions import db
from app.models import (ApplicationSnapshot, Clarification, Document, SnapshotView, utcnow)

# (key, title) in the order the sections are shown and compared.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("organisation", "Organisation"),
    ("declarations", "Declarations"),
    ("settings", "Settings offered"),
    ("prices", "Ceiling prices"),
    ("services", "Additional services"),
    ("terms", "Standard terms"),
    ("quality", "Quality answers"),
    ("documents", "Documents"),
    ("clarifications", "Clarifications"),
)
ORGANISATION_FIELDS = (
    ("legal_name", "Legal name"), ("trading_name", "Trading name"),
    ("company_number", "Company number"), ("charity_number", "Charity number"),
    ("address_line_1", "Address line 1"), ("address_line_2", "Address line 2"),
    ("town", "Town or city"), ("postcode", "Postcode"), ("contact_name", "Contact name"),
    ("contact_phone", "Contact telephone number"), ("contact_email", "Contact email address"),
)
FIELD_LABELS = {
    "answer": "Answer", "explanation": "Explanation",
    "file": "File", "sha256": "SHA-256", "status": "Status", "insurer": "Insurer",
    "policy_number": "Policy number", "cover": "Cover", "expires_on": "Expires",
    "question": "Question", "document": "Supporting document",
}
# Sections whose values are amounts in pounds, stored as "925.00".
MONEY_SECTIONS = {"prices", "services"}
# A document with a different file is a new document, shown whole, not field by field.
IDENTITY_FIELD = {"documents": "sha256"}
# Shown in place of a field left empty.
_SHOWN_FIELDS_WHEN_EMPTY = {"answer"}


# ---------------------------------------------------------------- taking

def _amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def _ground_label(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _document_entry(doc) -> dict:
    return {"file": doc.original_filename, "sha256": doc.sha256, "status": doc.status.label,
            "insurer": doc.insurer, "policy_number": doc.policy_number,
            "cover": _amount(doc.cover_amount),
            "expires_on": doc.expires_on.isoformat() if doc.expires_on else None}


def _documents_relied_on(application, documents) -> dict:
    """The document shown for each kind (and offered setting): the newest one
    not replaced, whatever its check status, so a rejection shows too."""
    offered = {link.setting_id: link.setting for alot in application.lots
               for link in alot.setting_links}
    newest: dict[tuple, object] = {}
    for doc in documents:
        if doc.status is DocumentStatus.SUPERSEDED:
            continue
        if doc.kind.per_setting and doc.setting_id not in offered:
            continue
        key = (doc.kind, doc.setting_id if doc.kind.per_setting else None)
        if key not in newest or (doc.uploaded_at, doc.id) > (newest[key].uploaded_at,
                                                            newest[key].id):
            newest[key] = doc
    kinds = list(DocumentKind)

    def order(key):
        kind, setting_id = key
        return (kinds.index(kind), offered[setting_id].name if setting_id else "", setting_id or 0)

    return {kind.label + (f": {offered[setting_id].name}" if setting_id else ""):
            _document_entry(newest[(kind, setting_id)])
            for kind, setting_id in sorted(newest, key=order)}


def build_data(application, documents, clarifications) -> dict:
    """Everything an evaluator compares, as JSON-able text. `documents`: the
    provider's documents; `clarifications`: the application's, oldest first."""
    provider = application.provider
    lots = rules.chosen_lots(application)
    placement = rules.placement_labels(lots)
    services = rules.service_labels(lots)
    saved = rules.answers(application)

    declarations = {}
    for ground in GROUNDS:
        given = saved.declarations.get(ground.code)
        if given is not None:
            declarations[_ground_label(ground.code)] = {
                "answer": "Yes" if given.answer else "No",
                "explanation": given.explanation or None}

    settings = {}
    for alot in application.lots:
        for s in sorted((link.setting for link in alot.setting_links), key=lambda s: s.name):
            settings[f"{alot.lot.title}: {s.name}"] = (
                f"{s.setting_type.label}, URN {s.ofsted_urn}, Ofsted {s.ofsted_judgement.label}")

    prices = {placement[pt.id]: _amount(saved.prices[pt.id])
              for lot in lots for pt in lot.placement_types if pt.id in saved.prices}

    rates = {}
    for lot in lots:
        for item in lot.service_items:
            if item.id in saved.rates:
                rates[f"{services[item.id]} ({item.unit.label})"] = _amount(saved.rates[item.id])
    by_lot = {lot.id: lot for lot in lots}
    for r in saved.custom:
        lot = by_lot.get(r.lot_id)
        where = f", Lot {lot.number}" if lot is not None and len(lots) > 1 else ""
        rates[f"{r.custom_name} ({r.custom_unit.label}, own item{where})"] = _amount(r.rate)

    quality = {}
    for lot in lots:
        for q in lot.quality_questions:
            if q.id in saved.quality:
                quality[f"Lot {lot.number}: {q.title}"] = saved.quality[q.id]

    return {
        "organisation": {label: (getattr(provider, name) or None)
                         for name, label in ORGANISATION_FIELDS},
        "declarations": declarations,
        "settings": settings,
        "prices": prices,
        "services": rates,
        "terms": {alot.lot.title: "Accepted" if alot.terms_accepted_at else "Not accepted"
                  for alot in application.lots},
        "quality": quality,
        "documents": _documents_relied_on(application, documents),
        "clarifications": {
            f"Question {n}": {"question": c.question, "answer": c.answer,
                              "document": (c.answer_document.original_filename
                                           if c.answer_document else None)}
            for n, c in enumerate(clarifications, start=1)},
    }


def clarifications_of(application_id: int) -> list[Clarification]:
    return list(db.session.execute(
        sa.select(Clarification).where(Clarification.application_id == application_id)
        .options(selectinload(Clarification.answer_document))
        .order_by(Clarification.asked_at, Clarification.id)
    ).scalars())


def take_snapshot(application, reason: str) -> ApplicationSnapshot:
    """Record the application as it is now (the caller commits)."""
    documents = db.session.execute(
        sa.select(Document).where(Document.provider_id == application.provider_id)
    ).scalars().all()
    data = build_data(application, documents, clarifications_of(application.id))
    snapshot = ApplicationSnapshot(application_id=application.id, reason=reason, data=data,
                                   taken_at=utcnow())
    db.session.add(snapshot)
    db.session.flush()
    return snapshot


# ---------------------------------------------------------------- comparing

@dataclass(frozen=True)
class Change:
    section: str  # the section's title
    item: str
    before: str | None  # None: not in that version
    after: str | None


def _ordered(old: dict, new: dict) -> list[str]:
    """The newer version's order, then what only the older one had."""
    return list(new) + [key for key in old if key not in new]


def _field_text(section: str, field: str, value) -> str | None:
    if value is None or value == "":
        return None
    if field == "cover":
        return f"£{Decimal(value):,.2f}"
    if field == "expires_on":
        day = date.fromisoformat(value)
        return f"{day.day} {day:%B %Y}"
    return str(value)


def _value_text(section: str, value) -> str | None:
    """One version of an item as text; a dict becomes a line per field."""
    if value is None:
        return None
    if isinstance(value, dict):
        lines = []
        for field, raw in value.items():
            text = _field_text(section, field, raw)
            if text is None and field in _SHOWN_FIELDS_WHEN_EMPTY:
                text = "Not answered"
            if text is not None:
                lines.append(f"{FIELD_LABELS.get(field, field)}: {text}")
        return "\n".join(lines)
    if section in MONEY_SECTIONS:
        return f"£{Decimal(value):,.2f}"
    return str(value)


def diff(old: dict | None, new: dict | None) -> list[Change]:
    """Every difference between two snapshots' data, section by section in
    the application's order. Pure: the same inputs give the same list."""
    changes: list[Change] = []
    for key, title in SECTIONS:
        before_section = (old or {}).get(key) or {}
        after_section = (new or {}).get(key) or {}
        for item in _ordered(before_section, after_section):
            before, after = before_section.get(item), after_section.get(item)
            if before == after:
                continue
            identity = IDENTITY_FIELD.get(key)
            if (isinstance(before, dict) and isinstance(after, dict)
                    and (identity is None or before.get(identity) == after.get(identity))):
                for field in _ordered(before, after):
                    if before.get(field) != after.get(field):
                        changes.append(Change(
                            title, f"{item}: {FIELD_LABELS.get(field, field).lower()}",
                            _field_text(key, field, before.get(field)),
                            _field_text(key, field, after.get(field))))
                continue
            changes.append(Change(title, item, _value_text(key, before), _value_text(key, after)))
    return changes


# ---------------------------------------------------------------- seen by staff

def snapshots_of(application_id: int) -> list[ApplicationSnapshot]:
    """Every version, oldest first (a handful per application)."""
    return list(db.session.execute(
        sa.select(ApplicationSnapshot).where(ApplicationSnapshot.application_id == application_id)
        .order_by(ApplicationSnapshot.id)
    ).scalars())


def last_seen(application_id: int, user_id: int) -> SnapshotView | None:
    return db.session.get(SnapshotView, (application_id, user_id))


def mark_seen(application_id: int, user_id: int, snapshot: ApplicationSnapshot) -> None:
    """Record that `user_id` has now seen `snapshot` (insert or update; the
    caller commits)."""
    view = last_seen(application_id, user_id)
    if view is None:
        db.session.add(SnapshotView(application_id=application_id, user_id=user_id,
                                    snapshot_id=snapshot.id, seen_at=utcnow()))
    else:
        view.snapshot_id = snapshot.id
        view.seen_at = utcnow()
