"""Recommendation (evaluators), moderation (commissioning managers, four
eyes) and the provider's outcome page.

Staff pages load the lot through `_lot_or_404`; the provider's page loads
only the signed-in provider's application (404 otherwise). Every staff form
carries the lot evaluation's version: a stale page gets 409 and changes
nothing. The four-eyes rule lives in app.domain.decisions, so a POST that
never saw the page is refused the same way.
"""
import sqlalchemy as sa
from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.access import EVALUATOR_ROLES, MODERATOR_ROLES, PROVIDER_ROLES, role_required
from app.domain import applications as rules
from app.domain import decisions
from app.domain.prices import current_prices, price_label, price_unit
from app.domain.states import (ApplicationStatus, IllegalTransition, LotEvaluationStatus,
                               LotOutcome, MembershipStatus, Role)
from app.email import send_email, unique_addresses
from app.extensions import db
from app.models import Application, ApplicationLot, LotEvaluation, Membership, User
from app.moderation import bp, forms
from app.staff.access import get_application_for_staff_or_404
from app.web import audit_ctx, redirect_303, render

STAFF_STATUSES = (ApplicationStatus.IN_EVALUATION, ApplicationStatus.CLARIFICATION_REQUESTED,
                  ApplicationStatus.RECOMMENDED, ApplicationStatus.DECIDED)


def _lot_or_404(app_id: int, lot_id: int):
    """The application (as staff see it) and its evaluation of one lot."""
    evaluation = selectinload(Application.lots).selectinload(ApplicationLot.evaluation)
    application = get_application_for_staff_or_404(
        app_id, STAFF_STATUSES,
        options=(joinedload(Application.provider),
                 evaluation.selectinload(LotEvaluation.criteria),
                 evaluation.joinedload(LotEvaluation.recommended_by),
                 evaluation.joinedload(LotEvaluation.moderated_by)))
    alot = next((a for a in application.lots if a.lot_id == lot_id), None)
    if alot is None or alot.evaluation is None:
        abort(404)
    return application, alot.evaluation


def _form(form_class, prefill: dict):
    """On POST only what was sent counts (a stored answer must never fill a
    field left empty); on GET the form shows what is stored."""
    if request.method == "POST":
        return form_class()
    return form_class(data=prefill)


def _context(application, lot_evaluation) -> dict:
    alot = lot_evaluation.application_lot
    return {"application": application, "provider": application.provider,
            "lot": alot.lot, "lot_evaluation": lot_evaluation,
            "overrides": [c for c in lot_evaluation.criteria if c.overridden],
            "criteria": lot_evaluation.criteria,
            "other_lots": [a for a in application.lots if a.id != alot.id]}


def _refused(page: str, app_id: int, lot_id: int, form_class, message: str, status: int,
             prefill) -> tuple:
    """Nothing is saved: show the latest state of the lot with the reason."""
    db.session.rollback()
    application, lot_evaluation = _lot_or_404(app_id, lot_id)
    form = form_class(formdata=None, data=prefill(lot_evaluation))
    return render(page, status=status, problem=message, form=form,
                  **_page_context(page, application, lot_evaluation))


def _page_context(page: str, application, lot_evaluation) -> dict:
    ctx = _context(application, lot_evaluation)
    if page == RECOMMEND_PAGE:
        ctx.update(title=f"Recommend a decision on Lot {ctx['lot'].number}",
                   can_recommend=_can_recommend(application, lot_evaluation))
    else:
        ctx.update(title=f"Moderate the recommendation on Lot {ctx['lot'].number}",
                   can_moderate=decisions.can_moderate(lot_evaluation, current_user),
                   is_recommender=lot_evaluation.recommended_by_id == current_user.id)
    return ctx


# ------------------------------------------------------------------ recommend

RECOMMEND_PAGE = "moderation/recommend.html"


def _can_recommend(application, lot_evaluation) -> bool:
    return (application.status is ApplicationStatus.IN_EVALUATION
            and lot_evaluation.status is LotEvaluationStatus.OPEN)


def _recommend_prefill(lot_evaluation) -> dict:
    return {"version": lot_evaluation.version,
            "recommendation": (lot_evaluation.recommendation.value
                               if lot_evaluation.recommendation else None),
            "reasons": lot_evaluation.recommendation_reasons or "",
            "feedback": lot_evaluation.feedback or ""}


@bp.route("/staff/applications/<int:app_id>/lots/<int:lot_id>/recommend",
          methods=["GET", "POST"])
@role_required(*EVALUATOR_ROLES)
def recommend(app_id: int, lot_id: int):
    application, lot_evaluation = _lot_or_404(app_id, lot_id)
    form = _form(forms.RecommendForm, _recommend_prefill(lot_evaluation))
    if not form.is_submitted():
        return render(RECOMMEND_PAGE, form=form,
                      **_page_context(RECOMMEND_PAGE, application, lot_evaluation))
    if not form.validate():
        return render(RECOMMEND_PAGE, form=form, status=400,
                      **_page_context(RECOMMEND_PAGE, application, lot_evaluation))

    def refused(message, status=409):
        return _refused(RECOMMEND_PAGE, app_id, lot_id, forms.RecommendForm, message, status,
                        _recommend_prefill)

    try:
        ready = decisions.recommend(
            audit_ctx(), application, lot_evaluation, current_user,
            outcome=LotOutcome(form.recommendation.data), reasons=form.reasons.data,
            feedback=form.feedback.data, version=form.version.data)
        db.session.flush()
    except (rules.VersionConflict, StaleDataError):
        return refused(decisions.CONFLICT_MESSAGE)
    except IllegalTransition as exc:
        return refused(str(exc))
    except decisions.DecisionError as exc:
        return refused(str(exc), 400)
    managers = []
    if ready:
        managers = db.session.execute(
            sa.select(User.email).where(User.role == Role.MANAGER,
                                        User.is_active_account.is_(True),
                                        User.id != current_user.id).order_by(User.id)
        ).scalars().all()
    lot = lot_evaluation.application_lot.lot
    lots = [(alot.lot, alot.evaluation) for alot in application.lots]
    try:
        db.session.commit()
    except StaleDataError:
        return refused(decisions.CONFLICT_MESSAGE)
    for to in managers:
        send_email(to, "recommendation_ready", application=application,
                   provider=application.provider, lots=lots, evaluator=current_user,
                   links={lt.id: url_for("moderation.review", app_id=app_id, lot_id=lt.id,
                                         _external=True) for lt, _ in lots})
    flash(f"Your recommendation on {lot.title} has been sent for moderation." if ready else
          f"Your recommendation on {lot.title} is saved. Recommend the other lots to send "
          "the application for moderation.", "success")
    return redirect_303("staff.application", app_id=app_id)


# ------------------------------------------------------------------ moderate

MODERATE_PAGE = "moderation/review.html"


def _moderate_prefill(lot_evaluation) -> dict:
    return {"version": lot_evaluation.version}


@bp.route("/staff/applications/<int:app_id>/lots/<int:lot_id>/moderate",
          methods=["GET", "POST"])
@role_required(*MODERATOR_ROLES)
def review(app_id: int, lot_id: int):
    application, lot_evaluation = _lot_or_404(app_id, lot_id)
    form = _form(forms.ModerateForm, _moderate_prefill(lot_evaluation))
    if not form.is_submitted():
        return render(MODERATE_PAGE, form=form,
                      **_page_context(MODERATE_PAGE, application, lot_evaluation))

    def refused(message, status=409):
        return _refused(MODERATE_PAGE, app_id, lot_id, forms.ModerateForm, message, status,
                        _moderate_prefill)

    # The four-eyes rule first, whatever else was posted.
    try:
        decisions.check_moderator(lot_evaluation, current_user)
    except decisions.DecisionError as exc:
        return refused(str(exc), 403)
    if not form.validate():
        return render(MODERATE_PAGE, form=form, status=400,
                      **_page_context(MODERATE_PAGE, application, lot_evaluation))
    lot = lot_evaluation.application_lot.lot
    recommender_id = decided = None
    on = rules.today()
    try:
        if form.decision.data == "return":
            recommender_id = decisions.return_recommendation(
                audit_ctx(), application, lot_evaluation, current_user,
                comment=form.comment.data, version=form.version.data)
        else:
            decided = decisions.confirm(audit_ctx(), application, lot_evaluation, current_user,
                                        version=form.version.data, on=on,
                                        comment=form.comment.data)
        db.session.flush()
    except (rules.VersionConflict, StaleDataError):
        return refused(decisions.CONFLICT_MESSAGE)
    except (decisions.FourEyesViolation, decisions.NotAModerator) as exc:
        return refused(str(exc), 403)
    except IllegalTransition as exc:
        return refused(str(exc))
    except decisions.DecisionError as exc:
        return refused(str(exc), 400)
    recommender = db.session.get(User, recommender_id) if recommender_id else None
    provider_to = []
    if decided:
        submitter = db.session.get(User, application.submitted_by_id) \
            if application.submitted_by_id else None
        provider_to = unique_addresses([
            submitter.email if submitter and submitter.is_active else None,
            application.provider.contact_email])
    outcomes = decisions.lot_decisions(application) if decided else []
    comment = (form.comment.data or "").strip()
    try:
        db.session.commit()
    except StaleDataError:
        return refused(decisions.CONFLICT_MESSAGE)
    if recommender is not None and recommender.is_active:
        send_email(recommender.email, "recommendation_returned", application=application,
                   provider=application.provider, lot=lot, comment=comment,
                   moderator=current_user,
                   link=url_for("moderation.recommend", app_id=app_id, lot_id=lot.id,
                                _external=True))
    if decided:
        link = url_for("moderation.outcome", app_id=app_id, _external=True)
        for to in provider_to:
            send_email(to, "decision_made", application=application,
                       provider=application.provider, decisions=outcomes, decided_on=on,
                       link=link, apply_link=url_for("applications.new", _external=True))
    if form.decision.data == "return":
        flash(f"The recommendation on {lot.title} has been returned to the evaluator.",
              "success")
    elif decided:
        flash(f"The decision on {application.reference} is made and the provider has been "
              "told.", "success")
    else:
        flash(f"The recommendation on {lot.title} is confirmed. Moderate the other lots to "
              "make the decision.", "success")
    return redirect_303("staff.application", app_id=app_id)


# ------------------------------------------------------------------ outcome

@bp.get("/applications/<int:app_id>/outcome")
@role_required(*PROVIDER_ROLES)
def outcome(app_id: int):
    application = db.session.execute(
        sa.select(Application)
        .where(Application.id == app_id, Application.provider_id == current_user.provider_id)
        .options(joinedload(Application.dps),
                 selectinload(Application.lots).selectinload(ApplicationLot.lot),
                 selectinload(Application.lots).selectinload(ApplicationLot.evaluation))
    ).scalar_one_or_none()
    if application is None or current_user.provider_id is None:
        abort(404)
    if application.status is not ApplicationStatus.DECIDED:
        return render("moderation/no_decision.html", title="No decision yet",
                      application=application)
    results = decisions.lot_decisions(application)
    approved = [d.lot.id for d in results if d.outcome is LotOutcome.APPROVE]
    memberships = {m.lot_id: m for m in db.session.execute(
        sa.select(Membership).where(Membership.provider_id == application.provider_id,
                                    Membership.lot_id.in_(approved))).scalars()}
    today = rules.today()
    decided_on = rules.local_date(application.decided_at)
    prices = {lot_id: current_prices(application.provider_id, lot_id, max(today, decided_on))
              for lot_id in approved}
    return render("moderation/outcome.html", title="The outcome of your application",
                  application=application, results=results, decided_on=decided_on,
                  memberships=memberships, prices=prices, price_label=price_label,
                  price_unit=price_unit, active=MembershipStatus.ACTIVE,
                  approve=LotOutcome.APPROVE)
