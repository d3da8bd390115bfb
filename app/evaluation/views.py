"""Evaluating an application: a page per lot applied for (minimum criteria,
quality scores, price check), the documents it relies on, and the exclusion
decisions on declarations answered Yes.

Anyone in COMMISSIONER_ROLES (the blueprint's guard) may look; only
EVALUATOR_ROLES may act, and only while the application is in evaluation and,
for a lot, while its evaluation is open. Each form carries the version it was
opened at (the lot evaluation's for lot sections, the application's
otherwise): an older one is refused with 409 and nothing is saved.
"""
import sqlalchemy as sa
from flask import abort, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.access import EVALUATOR_ROLES
from app.applications.summary import provider_documents
from app.domain import applications as rules
from app.domain import evaluation as ev
from app.domain.declarations import GROUNDS_BY_CODE
from app.domain.documents import expiry_notice
from app.domain.pricing import EMPTY, price_distribution
from app.domain.states import ApplicationStatus, DocumentStatus, ExclusionOutcome
from app.email import send_email
from app.evaluation import bp, forms
from app.evidence.views import STATUS_COLOURS
from app.extensions import db
from app.models import (Application, ApplicationLot, ApplicationLotSetting, AuditEvent, Document,
                        Lot, LotEvaluation, User)
from app.staff.access import get_application_for_staff_or_404
from app.web import audit_ctx, redirect_303, render

# Staff may read an evaluation from the moment it starts, including once decided.
VIEWABLE = ev.EVALUATING + (ApplicationStatus.DECIDED,)
LOT_FRAGMENTS = {"lot-criteria": "evaluation/_criteria.html",
                 "lot-scores": "evaluation/_scores.html",
                 "lot-prices": "evaluation/_prices.html"}
DOCUMENT_FRAGMENTS = {"document-decisions": "evaluation/_documents.html"}
EXCLUSION_FRAGMENTS = {"exclusion-decisions": "evaluation/_exclusions.html"}


def _require_evaluator() -> None:
    """Administrators can read an evaluation but never act on it."""
    if current_user.role not in EVALUATOR_ROLES:
        abort(403)


def _is_fragment_request(fragments) -> bool:
    return (bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
            and request.headers.get("HX-Target") in fragments)


def _user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(User.id, User.full_name).where(User.id.in_(ids))).all())


def _lot_load():
    lots = selectinload(Application.lots)
    lot = lots.selectinload(ApplicationLot.lot)
    evaluation = lots.selectinload(ApplicationLot.evaluation)
    return (joinedload(Application.provider),
            lot.selectinload(Lot.placement_types),
            lot.selectinload(Lot.quality_questions),
            lots.selectinload(ApplicationLot.setting_links)
            .selectinload(ApplicationLotSetting.setting),
            evaluation.selectinload(LotEvaluation.criteria),
            evaluation.selectinload(LotEvaluation.scores),
            selectinload(Application.ceiling_prices),
            selectinload(Application.declaration_answers),
            selectinload(Application.quality_answers))


# ------------------------------------------------------------------ lot page

class LotPage:
    """Everything one lot's evaluation page shows, loaded in a fixed number of
    queries whatever the number of approved providers and prices."""

    def __init__(self, app_id: int, lot_id: int):
        self.application = get_application_for_staff_or_404(app_id, VIEWABLE,
                                                            options=_lot_load())
        self.alot = next((a for a in self.application.lots if a.lot_id == lot_id), None)
        if self.alot is None or self.alot.evaluation is None:
            abort(404)
        self.lot = self.alot.lot
        self.evaluation = self.alot.evaluation
        self.on = rules.today()
        settings = [link.setting for link in self.alot.setting_links]
        self.findings = ev.criteria_for(self.application, self.lot,
                                        provider_documents(self.application.provider_id),
                                        settings, self.on,
                                        decisions=ev.exclusion_decisions(self.application.id))
        self.rows = ev.criterion_rows(self.findings, self.evaluation.criteria)

    @property
    def locked_message(self) -> str | None:
        return (ev.not_evaluable_message(self.application)
                or ev.LOT_LOCKED_MESSAGES.get(self.evaluation.status))

    def check_can_act(self, submitted_version) -> None:
        ev.check_evaluable(self.application)
        ev.check_lot_open(self.evaluation)
        ev.check_version(self.evaluation, submitted_version)

    def criteria_form(self, posted: bool = False):
        form_class, prefill = forms.criteria_form(self.rows)
        return forms.build(form_class, {**prefill, "version": self.evaluation.version},
                           posted=posted, prefix="criteria")

    def scores_form(self, posted: bool = False):
        saved = {s.question_id: s for s in self.evaluation.scores}
        form_class, prefill = forms.scores_form(self.lot, saved)
        return forms.build(form_class, {**prefill, "version": self.evaluation.version},
                           posted=posted, prefix="scores")

    def render(self, status: int = 200, *, criteria_form=None, scores_form=None,
               messages: dict | None = None):
        application, lot, evaluation = self.application, self.lot, self.evaluation
        distribution = price_distribution(lot.id, self.on)
        offered = {cp.placement_type_id: cp.weekly_price for cp in application.ceiling_prices}
        prices = []
        for pt in lot.placement_types:
            if pt.id in offered:
                spread = distribution.get(pt.id, EMPTY)
                prices.append({"placement_type": pt, "amount": offered[pt.id],
                               "distribution": spread, "flag": spread.flag(offered[pt.id])})
        overrides = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.subject_type == "lot_evaluation",
                                        AuditEvent.subject_id == evaluation.id,
                                        AuditEvent.action == "lot_evaluation.criterion_overridden")
            .order_by(AuditEvent.id)
        ).scalars().all()
        names = _user_names([c.checked_by_id for c in evaluation.criteria]
                            + [s.scored_by_id for s in evaluation.scores]
                            + [e.actor_id for e in overrides])
        locked = self.locked_message
        criteria_form = criteria_form or self.criteria_form()
        scores_form = scores_form or self.scores_form()
        return render(
            "evaluation/lot.html", fragments=LOT_FRAGMENTS, status=status,
            title=lot.title, application=application, alot=self.alot, lot=lot,
            evaluation=evaluation, rows=self.rows, overrides=overrides, names=names,
            criteria_form=criteria_form, scores_form=scores_form,
            scores={s.question_id: s for s in evaluation.scores},
            answers={a.question_id: a.answer for a in application.quality_answers},
            prices=prices, on=self.on,
            can_act=current_user.role in EVALUATOR_ROLES and locked is None,
            can_clarify=(current_user.role in EVALUATOR_ROLES
                         and application.status is ApplicationStatus.IN_EVALUATION),
            locked_message=locked, messages=messages or {},
            saved=request.args.get("saved") if request.method == "GET" else None,
            has_errors=bool(criteria_form.errors or scores_form.errors or messages),
            oob=_is_fragment_request(LOT_FRAGMENTS))


@bp.get("/<int:app_id>/lots/<int:lot_id>")
def lot(app_id: int, lot_id: int):
    return LotPage(app_id, lot_id).render()


def _save_lot_section(app_id: int, lot_id: int, section: str, make_form, save):
    """The POST of a lot section: refuse (409) when it cannot change or the page
    is stale, re-show errors (400) keeping the input, else save and go back."""
    _require_evaluator()
    page = LotPage(app_id, lot_id)
    form = make_form(page)
    try:
        page.check_can_act(form.version.data)
    except ev.EvaluationRefused as exc:
        return page.render(409, messages={section: str(exc)})
    if not form.validate():
        return page.render(400, **{f"{section}_form": form})
    try:
        save(page, form)
        db.session.commit()
    except ev.EvaluationError as exc:
        db.session.rollback()
        return LotPage(app_id, lot_id).render(400, messages={section: str(exc)},
                                              **{f"{section}_form": form})
    except (ev.EvaluationRefused, StaleDataError) as exc:
        db.session.rollback()
        return LotPage(app_id, lot_id).render(409, messages={section: _refusal(exc)})
    return redirect_303("evaluation.lot", app_id=app_id, lot_id=lot_id, saved=section,
                        _anchor=f"lot-{section}")


@bp.post("/<int:app_id>/lots/<int:lot_id>/criteria")
def save_criteria(app_id: int, lot_id: int):
    def save(page, form):
        ev.save_criteria(audit_ctx(), page.evaluation, page.application.provider_id,
                         page.findings, forms.criteria_choices(form, page.rows), current_user.id)

    return _save_lot_section(app_id, lot_id, "criteria",
                             lambda page: page.criteria_form(posted=True), save)


@bp.post("/<int:app_id>/lots/<int:lot_id>/scores")
def save_scores(app_id: int, lot_id: int):
    def save(page, form):
        ev.save_scores(audit_ctx(), page.evaluation, page.lot, page.application.provider_id,
                       forms.given_scores(form, page.lot), current_user.id)

    return _save_lot_section(app_id, lot_id, "scores",
                             lambda page: page.scores_form(posted=True), save)


# ------------------------------------------------------------------ documents

def _documents_load():
    lots = selectinload(Application.lots)
    return (joinedload(Application.provider),
            lots.selectinload(ApplicationLot.setting_links)
            .selectinload(ApplicationLotSetting.setting))


def _document_prefill(document, version: int) -> dict:
    decided = document.status in (DocumentStatus.VERIFIED, DocumentStatus.REJECTED)
    return {"decision": document.status.value if decided else None,
            "reason": document.rejection_reason or "", "version": version}


@bp.route("/<int:app_id>/documents", methods=["GET", "POST"])
def documents(app_id: int):
    if request.method == "GET":
        return _documents_page(app_id)
    _require_evaluator()
    application = get_application_for_staff_or_404(app_id, VIEWABLE, options=_documents_load())
    entries = ev.relied_on(application, provider_documents(application.provider_id))
    shown = {e.shown.id: e.shown for e in entries if e.shown is not None}
    document_id = request.form.get("document_id", type=int)
    document = shown.get(document_id)
    if document is None:
        replaced = db.session.get(Document, document_id) if document_id else None
        if replaced is None or replaced.provider_id != application.provider_id:
            abort(404)
        return _documents_page(app_id, 409, message=(
            "The provider has replaced this document since you opened this page. Nothing was "
            "saved: check the latest details and try again."))
    form = forms.DocumentDecisionForm(prefix=f"doc-{document.id}")
    try:
        ev.check_evaluable(application)
        ev.check_version(application, form.version.data)
    except ev.EvaluationRefused as exc:
        return _documents_page(app_id, 409, message=str(exc))
    if not form.validate():
        return _documents_page(app_id, 400, posted=(document.id, form))
    rejected = form.decision.data == "rejected"
    try:
        ev.decide_document(audit_ctx(), application, document, not rejected,
                           form.reason.data if rejected else None, current_user.id)
        db.session.commit()
    except ev.EvaluationError as exc:
        db.session.rollback()
        return _documents_page(app_id, 400, message=str(exc), posted=(document.id, form))
    except (ev.EvaluationRefused, StaleDataError) as exc:
        db.session.rollback()
        return _documents_page(app_id, 409, message=_refusal(exc))
    if rejected:
        _tell_provider_of_rejection(application, document)
    return redirect_303("evaluation.documents", app_id=app_id, saved=document.id,
                        _anchor=f"document-{document.id}")


def _refusal(exc: Exception) -> str:
    # StaleDataError: a colleague's change landed between our check and our write.
    return str(exc) if isinstance(exc, ev.EvaluationRefused) else ev.CONFLICT_MESSAGE


def _documents_page(app_id: int, status: int = 200, *, message: str | None = None,
                    posted: tuple | None = None):
    """`posted`: (document id, form) of a form to show as sent, with its errors."""
    application = get_application_for_staff_or_404(app_id, VIEWABLE, options=_documents_load())
    entries = ev.relied_on(application, provider_documents(application.provider_id))
    documents = [e.shown for e in entries if e.shown is not None]
    posted_id, posted_form = posted or (None, None)
    doc_forms = {d.id: posted_form if d.id == posted_id else forms.build(
        forms.DocumentDecisionForm, _document_prefill(d, application.version), posted=False,
        prefix=f"doc-{d.id}") for d in documents}
    if posted_form is not None:
        # The page shows the current version: the form was sent at this one.
        posted_form.version.data = application.version
    locked = ev.not_evaluable_message(application)
    return render("evaluation/documents.html", fragments=DOCUMENT_FRAGMENTS, status=status,
                  title="Documents", application=application, entries=entries,
                  doc_forms=doc_forms, posted_id=posted_id, message=message,
                  names=_user_names([d.verified_by_id for d in documents]),
                  can_act=current_user.role in EVALUATOR_ROLES and locked is None,
                  locked_message=locked, status_colours=STATUS_COLOURS,
                  expiry_notice=expiry_notice, today=rules.today(),
                  saved=request.args.get("saved", type=int) if request.method == "GET" else None,
                  has_errors=bool(message or (posted_form and posted_form.errors)))


def _tell_provider_of_rejection(application, document) -> None:
    contact = (application.provider.contact_email or "").strip()
    if contact:
        send_email(contact, "document_rejected", application=application,
                   provider=application.provider, document=document,
                   label=_document_label(document), reason=document.rejection_reason,
                   link=url_for("evidence.library", _external=True))


def _document_label(document) -> str:
    return document.kind.label + (f" for {document.setting.name}" if document.setting else "")


# ------------------------------------------------------------------ exclusions

def _exclusions_load():
    lots = selectinload(Application.lots)
    return (joinedload(Application.provider),
            lots.selectinload(ApplicationLot.evaluation),
            selectinload(Application.declaration_answers))


def _exclusion_prefill(answer, decision, version: int) -> dict:
    if decision is None:
        # The provider's explanation is where their representations start.
        return {"representations": answer.explanation, "version": version}
    return {"evidence": decision.evidence, "representations": decision.representations,
            "outcome": decision.outcome.value, "version": version}


@bp.route("/<int:app_id>/exclusions", methods=["GET", "POST"])
def exclusions(app_id: int):
    if request.method == "GET":
        return _exclusions_page(app_id)
    _require_evaluator()
    application = get_application_for_staff_or_404(app_id, VIEWABLE, options=_exclusions_load())
    ground = request.form.get("ground")
    if ground not in {a.ground for a in ev.yes_answers(application)}:
        abort(404)
    form = forms.ExclusionForm(prefix=f"ground-{ground}")
    try:
        locked = ev.exclusions_locked_message(application)
        if locked:
            raise ev.EvaluationRefused(locked)
        ev.check_version(application, form.version.data)
    except ev.EvaluationRefused as exc:
        return _exclusions_page(app_id, 409, message=str(exc))
    if not form.validate():
        return _exclusions_page(app_id, 400, posted=(ground, form))
    existing = next((d for d in ev.exclusion_decisions(application.id) if d.ground == ground),
                    None)
    try:
        ev.record_exclusion(audit_ctx(), application, ground, evidence=form.evidence.data,
                            representations=form.representations.data,
                            outcome=ExclusionOutcome(form.outcome.data),
                            user_id=current_user.id, existing=existing)
        db.session.commit()
    except ev.EvaluationError as exc:
        db.session.rollback()
        return _exclusions_page(app_id, 400, message=str(exc), posted=(ground, form))
    except (ev.EvaluationRefused, StaleDataError) as exc:
        db.session.rollback()
        return _exclusions_page(app_id, 409, message=_refusal(exc))
    return redirect_303("evaluation.exclusions", app_id=app_id, saved=ground,
                        _anchor=f"ground-{ground}")


def _exclusions_page(app_id: int, status: int = 200, *, message: str | None = None,
                     posted: tuple | None = None):
    """`posted`: (ground, form) of a form to show as sent, with its errors."""
    application = get_application_for_staff_or_404(app_id, VIEWABLE, options=_exclusions_load())
    answers = ev.yes_answers(application)
    decisions = {d.ground: d for d in ev.exclusion_decisions(application.id)}
    posted_ground, posted_form = posted or (None, None)
    ground_forms = {a.ground: posted_form if a.ground == posted_ground else forms.build(
        forms.ExclusionForm, _exclusion_prefill(a, decisions.get(a.ground), application.version),
        posted=False, prefix=f"ground-{a.ground}") for a in answers}
    if posted_form is not None:
        posted_form.version.data = application.version
    locked = ev.exclusions_locked_message(application)
    return render("evaluation/exclusions.html", fragments=EXCLUSION_FRAGMENTS, status=status,
                  title="Exclusion decisions", application=application, answers=answers,
                  decisions=decisions, grounds=GROUNDS_BY_CODE, ground_forms=ground_forms,
                  ground_label=ev.ground_label, posted_ground=posted_ground, message=message,
                  names=_user_names([d.decided_by_id for d in decisions.values()]),
                  can_act=current_user.role in EVALUATOR_ROLES and locked is None,
                  locked_message=locked,
                  saved=request.args.get("saved") if request.method == "GET" else None,
                  has_errors=bool(message or (posted_form and posted_form.errors)))
