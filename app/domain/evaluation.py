"""Evaluating a submitted application, lot by lot: the minimum criteria the
evidence shows and the evaluator's confirmation or override of each, quality
scores and their weighted total, document verification and exclusion
decisions. Plain rules over loaded objects; the caller commits."""
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from app.domain import audit
from app.domain.applications import local_date
from app.domain.declarations import GROUNDS
from app.domain.documents import library_entries
from app.domain.evidence import FINANCIAL_KINDS, current_documents
from app.domain.reference import DocumentKind
from app.domain.states import (ApplicationStatus, DocumentStatus, ExclusionOutcome,
                               LotEvaluationStatus, next_application_status)
from app.extensions import db
from app.models import CriterionCheck, ExclusionDecision, LotEvaluation, QualityScore, utcnow


def start_evaluation(ctx: audit.AuditContext, application, evaluator) -> None:
    """Move a submitted application into evaluation with `evaluator` holding it,
    and open an evaluation for each lot applied for."""
    before = application.status
    application.status = next_application_status(application.status, "start_evaluation")
    now = utcnow()
    application.assigned_evaluator_id = evaluator.id
    application.assigned_at = now
    application.evaluation_started_at = now
    for alot in application.lots:
        if alot.evaluation is None:
            db.session.add(LotEvaluation(application_lot=alot))
    application.touch()
    audit.record(ctx, "application.evaluation_started", "application", application.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": application.status.value, "evaluator_id": evaluator.id},
                 internal=False)


EVALUATING = (ApplicationStatus.IN_EVALUATION, ApplicationStatus.CLARIFICATION_REQUESTED,
              ApplicationStatus.RECOMMENDED)


# ---------------------------------------------------------------- guards

CONFLICT_MESSAGE = ("This application has changed since you opened this page. Nothing was "
                    "saved: check the latest details and try again.")
LOT_LOCKED_MESSAGES = {
    LotEvaluationStatus.RECOMMENDED: "This lot has been recommended; it can only change if "
                                     "the moderator returns it.",
    LotEvaluationStatus.DECIDED: "This lot has been decided; its evaluation can no longer "
                                 "change.",
}


class EvaluationRefused(Exception):
    """The action is not allowed now (shown with 409); nothing was changed."""


class EvaluationError(Exception):
    """What the evaluator entered breaks a rule (shown with 400)."""


def not_evaluable_message(application) -> str | None:
    """Why the evaluation of `application` cannot change now, or None."""
    if application.status is ApplicationStatus.IN_EVALUATION:
        return None
    if application.status is ApplicationStatus.CLARIFICATION_REQUESTED:
        return ("This application is waiting for the provider to answer a clarification. "
                "You can change the evaluation once it is back in evaluation.")
    return (f"This application is {application.status.label.lower()}: its evaluation "
            "cannot change.")


def check_evaluable(application) -> None:
    message = not_evaluable_message(application)
    if message:
        raise EvaluationRefused(message)


def check_lot_open(lot_evaluation) -> None:
    if lot_evaluation.status is not LotEvaluationStatus.OPEN:
        raise EvaluationRefused(LOT_LOCKED_MESSAGES[lot_evaluation.status])


def check_version(versioned, submitted) -> None:
    """`versioned` is an Application or a LotEvaluation; `submitted` the
    version the page was opened at."""
    if str(submitted or "") != str(versioned.version):
        raise EvaluationRefused(CONFLICT_MESSAGE)


def _touch_lot(lot_evaluation) -> None:
    # Only child rows changed: mark the row itself so the UPDATE bumps its
    # version and a colleague's older page is refused.
    flag_modified(lot_evaluation, "status")


def _day(value: date | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""


def _pounds(amount) -> str:
    if amount is None:
        return "no amount"
    amount = Decimal(amount)
    return f"£{amount:,.0f}" if amount == amount.to_integral_value() else f"£{amount:,.2f}"


# ---------------------------------------------------------------- minimum criteria

@dataclass(frozen=True)
class Finding:
    """What the evidence shows about one minimum criterion."""
    code: str
    label: str
    passed: bool
    detail: str


CRITERIA_INSURANCES = (DocumentKind.PUBLIC_LIABILITY, DocumentKind.EMPLOYERS_LIABILITY,
                       DocumentKind.PROFESSIONAL_INDEMNITY)
# Exclusion decisions that let an applicant that answered Yes continue.
ACCEPTING = (ExclusionOutcome.EXCLUDABLE_ACCEPTED, ExclusionOutcome.SELF_CLEANING_ACCEPTED)


def ground_label(code: str) -> str:
    return code.replace("_", " ")


def _ofsted_finding(lot, setting, docs) -> Finding:
    judgement = setting.ofsted_judgement
    minimum = lot.min_ofsted_judgement
    inspected = (f" (judged {_day(setting.ofsted_judgement_date)})"
                 if setting.ofsted_judgement_date else "")
    problems = []
    if not judgement.meets(minimum):
        problems.append(f"{judgement.label}{inspected} is below the minimum of {minimum.label}")
    if (DocumentKind.OFSTED_CERTIFICATE, setting.id) not in docs:
        problems.append("no current Ofsted registration certificate")
    if problems:
        detail = "; ".join(problems)
    else:
        floor = f"the minimum is {minimum.label}" if minimum else "this lot has no minimum"
        detail = f"{judgement.label}{inspected}; {floor}. Registration certificate on file"
    return Finding(f"ofsted:{setting.id}", f"Ofsted judgement: {setting.name}", not problems,
                   detail[0].upper() + detail[1:])


def _insurance_finding(kind: DocumentKind, doc, minimum, on_date: date) -> Finding:
    code, label = f"insurance:{kind.value}", kind.label
    if doc is None:
        return Finding(code, label, False, "No current policy on file")
    problems = []
    if doc.expires_on is None:
        problems.append("no expiry date recorded")
    elif doc.expires_on < on_date:
        problems.append(f"expired on {_day(doc.expires_on)}")
    if doc.cover_amount is None or (minimum is not None and doc.cover_amount < minimum):
        problems.append(f"cover of {_pounds(doc.cover_amount)} is below the "
                        f"{_pounds(minimum)} minimum")
    policy = " ".join(p for p in (doc.insurer, doc.policy_number) if p) or doc.original_filename
    if problems:
        text = "; ".join(problems)
        return Finding(code, label, False, f"{policy}: {text}")
    return Finding(code, label, True,
                   f"{policy}: cover {_pounds(doc.cover_amount)} (minimum {_pounds(minimum)}), "
                   f"in date until {_day(doc.expires_on)}")


def _financial_finding(docs) -> Finding:
    found = [docs[(k, None)] for k in FINANCIAL_KINDS if (k, None) in docs]
    if not found:
        return Finding("financial", "Credit report or accounts", False,
                       "Neither a credit report nor accounts is on file")
    return Finding("financial", "Credit report or accounts", True,
                   "; ".join(f"{d.kind.label} uploaded {_day(local_date(d.uploaded_at))}"
                             for d in found))


def _declarations_finding(answers, decisions) -> Finding:
    code, label = "declarations", "Declarations"
    yes = sorted((a for a in answers if a.answer), key=lambda a: GROUND_ORDER.get(a.ground, 99))
    if not yes:
        return Finding(code, label, True, "Every exclusion ground answered No")
    by_ground = {d.ground: d for d in decisions}
    notes, passed = [], True
    for answer in yes:
        decision = by_ground.get(answer.ground)
        name = ground_label(answer.ground)
        if decision is None:
            passed = False
            notes.append(f"Yes to {name}: no exclusion decision recorded yet")
        else:
            passed = passed and decision.outcome in ACCEPTING
            notes.append(f"Yes to {name}: {decision.outcome.label.lower()}")
    return Finding(code, label, passed, "; ".join(notes))


def criteria_for(application, lot, documents, settings, on_date: date, *,
                 decisions=None) -> list[Finding]:
    """The system's finding on each minimum criterion of `lot`, from the evidence.

    `documents`: all the provider's documents (superseded and rejected ones do
    not count); `settings`: the settings offered under the lot; `on_date`: the
    decision date insurance must be in date on. `decisions`: the application's
    ExclusionDecision rows (loaded when not given).
    """
    if decisions is None:
        decisions = exclusion_decisions(application.id)
    docs = current_documents(documents)
    findings = [_ofsted_finding(lot, s, docs)
                for s in sorted(settings, key=lambda s: (s.name, s.id))]
    if not settings:
        findings.append(Finding("ofsted", "Ofsted registration", False,
                                "No setting is offered under this lot"))
    minimums = lot.insurance_minimums()
    for kind in CRITERIA_INSURANCES:
        findings.append(_insurance_finding(kind, docs.get((kind, None)), minimums.get(kind),
                                           on_date))
    findings.append(_financial_finding(docs))
    findings.append(_declarations_finding(application.declaration_answers, decisions))
    return findings


@dataclass
class CriterionRow:
    """A finding beside what the evaluator recorded about it (if anything)."""
    finding: Finding
    check: object | None  # CriterionCheck

    @property
    def evidence_changed(self) -> bool:
        """The evidence says something else now than when it was checked."""
        return self.check is not None and (self.check.system_passed != self.finding.passed
                                           or self.check.system_detail != self.finding.detail)

    @property
    def field(self) -> str:
        """A form field suffix made from the code."""
        return self.finding.code.replace(":", "-")


def criterion_rows(findings, checks) -> list[CriterionRow]:
    by_code = {c.code: c for c in checks}
    return [CriterionRow(f, by_code.get(f.code)) for f in findings]


def save_criteria(ctx: audit.AuditContext, lot_evaluation, provider_id: int, findings,
                  choices: dict[str, tuple[bool, str]], user_id: int) -> None:
    """Record the evaluator's confirmation or override of each finding.

    `choices`: code -> (passed, note). Overriding the system's finding needs a
    note, which is kept with the check and in the audit trail.
    """
    check_lot_open(lot_evaluation)
    by_code = {c.code: c for c in lot_evaluation.criteria}
    now = utcnow()
    before, after = {}, {}
    overrides = []
    for finding in findings:
        passed, note = choices[finding.code]
        note = (note or "").strip()
        overridden = passed != finding.passed
        if overridden and not note:
            raise EvaluationError(f"Explain why you are overriding {finding.label}")
        check = by_code.get(finding.code)
        state = {"system_passed": finding.passed, "passed": passed, "overridden": overridden,
                 "note": note or None}
        old = None
        if check is not None:
            old = {"system_passed": check.system_passed, "passed": check.confirmed_passed,
                   "overridden": check.overridden, "note": check.note}
            if old == state and check.system_detail == finding.detail:
                continue
        else:
            check = CriterionCheck(code=finding.code)
            lot_evaluation.criteria.append(check)
        check.label = finding.label
        check.system_passed = finding.passed
        check.system_detail = finding.detail
        check.confirmed_passed = passed
        check.overridden = overridden
        check.note = note or None
        check.checked_by_id = user_id
        check.checked_at = now
        before[finding.code] = old
        after[finding.code] = state
        if overridden and (old is None or old["passed"] != passed or old["note"] != state["note"]
                           or not old["overridden"]):
            overrides.append((finding, passed, note))
    if not after:
        return
    _touch_lot(lot_evaluation)
    audit.record(ctx, "lot_evaluation.criteria_checked", "lot_evaluation", lot_evaluation.id,
                 provider_id=provider_id, before=before, after=after, internal=True)
    for finding, passed, note in overrides:
        audit.record(ctx, "lot_evaluation.criterion_overridden", "lot_evaluation",
                     lot_evaluation.id, provider_id=provider_id,
                     before={"code": finding.code, "label": finding.label,
                             "passed": finding.passed, "detail": finding.detail},
                     after={"code": finding.code, "label": finding.label, "passed": passed},
                     reason=note, internal=True)


# ---------------------------------------------------------------- quality scores

def weighted_total(scores: dict[int, int], questions, scale_max: int) -> Decimal | None:
    """Sum of score / scale_max * weight over the lot's questions, normalised
    to 100 by the sum of their weights; None until every question is scored."""
    total_weight = sum(q.weight for q in questions)
    if not questions or total_weight <= 0 or scale_max <= 0:
        return None
    if any(q.id not in scores for q in questions):
        return None
    raw = sum((Decimal(scores[q.id]) / Decimal(scale_max) * q.weight for q in questions),
              Decimal(0))
    return (raw * 100 / total_weight).quantize(Decimal("0.01"), ROUND_HALF_UP)


def save_scores(ctx: audit.AuditContext, lot_evaluation, lot, provider_id: int,
                given: dict[int, tuple[int, str]], user_id: int) -> None:
    """Score every quality question of `lot` (question id -> (score, comment))
    and store the weighted total."""
    check_lot_open(lot_evaluation)
    scale = lot.quality_scale_max
    for q in lot.quality_questions:
        if q.id not in given:
            raise EvaluationError(f"Score {q.title}")
        score, comment = given[q.id]
        if not 0 <= score <= scale:
            raise EvaluationError(f"Score for {q.title} must be between 0 and {scale}")
        if not (comment or "").strip():
            raise EvaluationError(f"Enter a comment on {q.title}")
    by_question = {s.question_id: s for s in lot_evaluation.scores}
    before = {"scores": {str(k): s.score for k, s in by_question.items()},
              "quality_total": _text(lot_evaluation.quality_total)}
    now = utcnow()
    changed = False
    for q in lot.quality_questions:
        score, comment = given[q.id]
        comment = comment.strip()
        row = by_question.get(q.id)
        if row is None:
            row = QualityScore(question_id=q.id)
            lot_evaluation.scores.append(row)
            by_question[q.id] = row
        elif row.score == score and row.comment == comment:
            continue
        row.score, row.comment, row.scored_by_id, row.scored_at = score, comment, user_id, now
        changed = True
    if not changed:
        return
    lot_evaluation.quality_total = weighted_total(
        {k: s.score for k, s in by_question.items()}, lot.quality_questions, scale)
    _touch_lot(lot_evaluation)
    audit.record(ctx, "lot_evaluation.scored", "lot_evaluation", lot_evaluation.id,
                 provider_id=provider_id, before=before,
                 after={"scores": {str(k): s.score for k, s in by_question.items()},
                        "quality_total": _text(lot_evaluation.quality_total)},
                 internal=True)


def _text(value) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- documents

def relied_on(application, documents) -> list:
    """The evidence the application relies on, as evidence-library entries:
    the organisation's documents and an Ofsted certificate for each setting
    offered; optional kinds only when uploaded."""
    settings = {}
    for alot in application.lots:
        for link in alot.setting_links:
            settings[link.setting.id] = link.setting
    offered = sorted(settings.values(), key=lambda s: (s.name, s.id))
    return [e for e in library_entries(documents, offered)
            if e.shown is not None or e.requirement != "optional"]


def decide_document(ctx: audit.AuditContext, application, document, verified: bool,
                    reason: str | None, user_id: int) -> None:
    """Mark a document the application relies on as verified, or rejected with
    a reason the provider sees in their evidence library."""
    check_evaluable(application)
    if document.status is DocumentStatus.SUPERSEDED:
        raise EvaluationRefused("The provider has replaced this document since you opened "
                                "this page. Nothing was saved: check the latest details and "
                                "try again.")
    reason = (reason or "").strip()
    if not verified and not reason:
        raise EvaluationError("Enter the reason for rejecting this document")
    before = {"status": document.status.value, "rejection_reason": document.rejection_reason}
    document.status = DocumentStatus.VERIFIED if verified else DocumentStatus.REJECTED
    document.rejection_reason = None if verified else reason
    document.verified_by_id = user_id
    document.verified_at = utcnow()
    application.touch()
    audit.record(ctx, "document.verified" if verified else "document.rejected", "document",
                 document.id, provider_id=document.provider_id, before=before,
                 after={"status": document.status.value, "application_id": application.id,
                        "rejection_reason": document.rejection_reason},
                 reason=reason or None)


# ---------------------------------------------------------------- exclusions

GROUND_ORDER = {g.code: i for i, g in enumerate(GROUNDS)}


def exclusion_decisions(application_id: int) -> list:
    return db.session.execute(
        sa.select(ExclusionDecision).where(ExclusionDecision.application_id == application_id)
    ).scalars().all()


def yes_answers(application) -> list:
    """The declarations answered Yes, in the order the grounds are asked."""
    return sorted((a for a in application.declaration_answers if a.answer),
                  key=lambda a: GROUND_ORDER.get(a.ground, 99))


def exclusions_locked_message(application) -> str | None:
    """Why exclusion decisions cannot change now, or None. Not while any lot
    is recommended or decided: its criteria were confirmed on the decisions
    as they stood."""
    message = not_evaluable_message(application)
    if message:
        return message
    for alot in application.lots:
        if alot.evaluation is not None and alot.evaluation.status is not LotEvaluationStatus.OPEN:
            return (f"{alot.lot.title} has been recommended; exclusion decisions can only "
                    "change if the moderator returns it.")
    return None


def record_exclusion(ctx: audit.AuditContext, application, ground: str, *, evidence: str,
                     representations: str, outcome: ExclusionOutcome, user_id: int,
                     existing=None) -> object:
    """Create or replace the decision on a ground the provider answered Yes to."""
    message = exclusions_locked_message(application)
    if message:
        raise EvaluationRefused(message)
    if ground not in {a.ground for a in yes_answers(application)}:
        raise EvaluationError("The provider did not answer Yes to this ground")
    evidence, representations = (evidence or "").strip(), (representations or "").strip()
    if not evidence:
        raise EvaluationError("Enter the evidence you considered")
    if not representations:
        raise EvaluationError("Enter the provider's representations")
    decision = existing
    before = None
    if decision is None:
        decision = ExclusionDecision(application_id=application.id, ground=ground)
        db.session.add(decision)
    else:
        before = {"outcome": decision.outcome.value, "evidence": decision.evidence,
                  "representations": decision.representations}
    decision.evidence, decision.representations = evidence, representations
    decision.outcome = outcome
    decision.decided_by_id = user_id
    decision.decided_at = utcnow()
    application.touch()
    db.session.flush()
    audit.record(ctx, "exclusion.decided", "application", application.id,
                 provider_id=application.provider_id, before=before,
                 after={"ground": ground, "outcome": outcome.value, "evidence": evidence,
                        "representations": representations, "decision_id": decision.id},
                 internal=True)
    return decision
