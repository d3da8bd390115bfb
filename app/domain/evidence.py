"""Which evidence a provider needs for the lots it applies to, and what fails.

Pure rules over already-loaded objects: the caller passes the provider's
current documents, so the check costs no queries of its own.
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.domain.reference import DocumentKind

ORGANISATION_KINDS = (
    DocumentKind.PUBLIC_LIABILITY,
    DocumentKind.EMPLOYERS_LIABILITY,
    DocumentKind.PROFESSIONAL_INDEMNITY,
    DocumentKind.SAFEGUARDING_POLICY,
)
# Either one satisfies the financial standing criterion.
FINANCIAL_KINDS = (DocumentKind.CREDIT_REPORT, DocumentKind.ACCOUNTS)


@dataclass(frozen=True)
class EvidenceProblem:
    kind: DocumentKind
    message: str
    setting_id: int | None = None
    lot_id: int | None = None


def current_documents(documents) -> dict[tuple[DocumentKind, int | None], object]:
    """The newest usable document of each kind (and setting): superseded and
    rejected documents do not count."""
    from app.domain.states import DocumentStatus
    best: dict = {}
    for doc in documents:
        if doc.status in (DocumentStatus.SUPERSEDED, DocumentStatus.REJECTED):
            continue
        key = (doc.kind, doc.setting_id if doc.kind.per_setting else None)
        if key not in best or doc.uploaded_at > best[key].uploaded_at:
            best[key] = doc
    return best


def evidence_problems(documents, lots, settings_by_lot: dict[int, list], on: date
                      ) -> list[EvidenceProblem]:
    """Everything missing, expired or below a lot's minimum, in a stable order.

    `documents`: all of the provider's documents; `lots`: the lots applied for;
    `settings_by_lot`: lot id -> settings offered under it.
    """
    docs = current_documents(documents)
    problems: list[EvidenceProblem] = []
    for kind in ORGANISATION_KINDS:
        doc = docs.get((kind, None))
        if doc is None:
            problems.append(EvidenceProblem(kind, f"Upload your {kind.label.lower()}"))
            continue
        if kind.is_insurance:
            problems += _insurance_problems(doc, kind, lots, on)
    if not any((k, None) in docs for k in FINANCIAL_KINDS):
        problems.append(EvidenceProblem(DocumentKind.CREDIT_REPORT,
                                        "Upload a credit report or your latest accounts"))
    seen_settings: set[int] = set()
    for lot in lots:
        for setting in settings_by_lot.get(lot.id, []):
            if setting.id in seen_settings:
                continue
            seen_settings.add(setting.id)
            if (DocumentKind.OFSTED_CERTIFICATE, setting.id) not in docs:
                problems.append(EvidenceProblem(
                    DocumentKind.OFSTED_CERTIFICATE,
                    f"Upload the Ofsted registration certificate for {setting.name}",
                    setting_id=setting.id))
    return problems


def _insurance_problems(doc, kind: DocumentKind, lots, on: date) -> list[EvidenceProblem]:
    problems = []
    if doc.expires_on is None or doc.expires_on < on:
        problems.append(EvidenceProblem(
            kind, f"Your {kind.label.lower()} has expired: upload the renewed certificate"))
    cover = doc.cover_amount if doc.cover_amount is not None else Decimal(0)
    for lot in lots:
        minimum = lot.insurance_minimums().get(kind)
        if minimum is not None and cover < minimum:
            problems.append(EvidenceProblem(
                kind, f"Your {kind.label.lower()} cover of £{cover:,.0f} is below the "
                      f"£{minimum:,.0f} minimum for {lot.title}", lot_id=lot.id))
    return problems
