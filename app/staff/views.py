"""Staff: the evaluation queue, the application hub (read-only summary with
its evaluation status and actions), taking and assigning applications, and
each application's history.

Member authority officers are staff but do not evaluate: the dashboard tells
them so, and the application pages are not found for them (404), as for any
page that is not theirs.
"""
import sqlalchemy as sa
from flask import abort, flash, make_response, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.access import COMMISSIONER_ROLES, EVALUATOR_ROLES, MODERATOR_ROLES, role_required
from app.applications.summary import FULL_LOAD, provider_documents, summary_context
from app.domain import queue
from app.domain.evaluation import EVALUATING
from app.domain.states import ApplicationStatus, IllegalTransition, LotEvaluationStatus
from app.extensions import db
from app.models import Application, ApplicationLot, Dps, User, utcnow
from app.staff import bp
from app.staff.access import get_application_for_staff_or_404
from app.staff.forms import AssignForm, QueueFilterForm, TakeForm
from app.staff.timeline import timeline
from app.web import audit_ctx, pagination, redirect_303, render

CONFLICT = ("This application has changed since you opened this page. Nothing was saved: "
            "check the latest details and try again.")


def _commissioner_only() -> None:
    if current_user.role not in COMMISSIONER_ROLES:
        abort(404)


# ------------------------------------------------------------------ the queue

def _member_officer_page():
    authorities = db.session.execute(
        sa.select(Dps.lead_authority).distinct().order_by(Dps.lead_authority)).scalars().all()
    return render("staff/member_officer.html", title="Applications are evaluated by the "
                  "lead authority", lead_authorities=authorities)


@bp.get("/")
def dashboard():
    if current_user.role not in COMMISSIONER_ROLES:
        return _member_officer_page()
    form = QueueFilterForm(request.args, lots=queue.queue_lots(),
                           evaluators=queue.assignable_staff())
    valid = form.validate()
    page = request.args.get("page", 1, type=int) or 1
    result = queue.queue_page(form.filters(current_user.id, page), utcnow())
    params = {k: v for k, v in request.args.items() if k != "page" and v.strip()}
    return render("staff/dashboard.html", title="Evaluation queue", form=form,
                  result=result, counts=queue.counts_by_status(),
                  pagination=pagination("staff.dashboard", result.page, result.pages, **params),
                  filtered=bool(params),
                  fragments={"queue-results": "staff/_queue.html"},
                  status=200 if valid else 400)


# ------------------------------------------------------------------ the hub

def _load_hub(app_id: int) -> Application:
    _commissioner_only()
    found = db.session.execute(
        sa.select(Application)
        .where(Application.id == app_id, *queue.RECEIVED)
        .options(*FULL_LOAD, joinedload(Application.assigned_evaluator),
                 selectinload(Application.lots).selectinload(ApplicationLot.evaluation))
    ).unique().scalar_one_or_none()
    if found is None:
        abort(404)  # drafts are the provider's own business
    return found


def _lot_rows(application) -> list[dict]:
    """Each lot applied for, its evaluation and the next step for this user."""
    user = current_user
    rows = []
    for alot in application.lots:
        evaluation = alot.evaluation
        row = {"lot": alot.lot, "evaluation": evaluation, "evaluate": None,
               "recommend": None, "review": None, "note": None}
        if evaluation is not None:
            row["evaluate"] = url_for("evaluation.lot", app_id=application.id, lot_id=alot.lot_id)
            if (evaluation.status is LotEvaluationStatus.OPEN
                    and application.status is ApplicationStatus.IN_EVALUATION
                    and user.role in EVALUATOR_ROLES):
                row["recommend"] = url_for("moderation.recommend", app_id=application.id,
                                           lot_id=alot.lot_id)
            elif evaluation.status is LotEvaluationStatus.RECOMMENDED and \
                    user.role in MODERATOR_ROLES:
                if evaluation.recommended_by_id == user.id:
                    # Four eyes: the page says so; the moderation view enforces it.
                    row["note"] = "You recommended this lot, so another manager must moderate it"
                else:
                    row["review"] = url_for("moderation.review", app_id=application.id,
                                            lot_id=alot.lot_id)
        rows.append(row)
    return rows


def _hub(application, *, assign_form=None, status=200):
    user = current_user
    can_take = user.role in queue.ASSIGNABLE_ROLES and (
        application.status is ApplicationStatus.SUBMITTED
        or (application.status in EVALUATING and application.assigned_evaluator_id is None))
    can_assign = user.role in MODERATOR_ROLES and application.status in queue.OPEN
    if can_assign and assign_form is None:
        assign_form = AssignForm(evaluators=queue.assignable_staff(),
                                 data={"version": application.version})
    started = application.evaluation_started_at is not None
    documents = provider_documents(application.provider_id)
    return render(
        "staff/application.html", title=f"Application {application.reference}",
        provider=application.provider, status=status,
        days_waiting=queue.days_waiting(application, utcnow()),
        lot_rows=_lot_rows(application),
        take_form=TakeForm(data={"version": application.version}) if can_take else None,
        assign_form=assign_form if can_assign else None,
        form=assign_form if assign_form is not None and assign_form.errors else None,
        evaluation_started=started,
        has_declared_grounds=any(d.answer for d in application.declaration_answers),
        can_ask=(application.status is ApplicationStatus.IN_EVALUATION
                 and user.role in EVALUATOR_ROLES),
        **summary_context(application, documents, changeable=False, downloads=True))


@bp.get("/applications/<int:app_id>")
def application(app_id: int):
    return _hub(_load_hub(app_id))


# ------------------------------------------------------------------ take and assign

def _refused(application, title: str, message: str, status: int = 409):
    body, _ = render("staff/refused.html", title=title, message=message, application=application)
    return make_response(body, status)


def _conflict(application):
    return _refused(application, "This application has changed", CONFLICT)


def _commit_or_conflict(application):
    """Commit; a colleague's change saved meanwhile (stale version) is a conflict."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return _conflict(application)
    return None


@bp.post("/applications/<int:app_id>/take")
@role_required(*queue.ASSIGNABLE_ROLES)
def take(app_id: int):
    application = get_application_for_staff_or_404(app_id)
    form = TakeForm()
    if not form.validate_on_submit() or form.version.data != str(application.version):
        return _conflict(application)
    try:
        changed = queue.take(audit_ctx(), application, current_user)
    except (queue.AssignmentError, IllegalTransition) as exc:
        db.session.rollback()
        return _refused(application, "You cannot take this application", str(exc))
    if changed:
        refused = _commit_or_conflict(application)
        if refused is not None:
            return refused
        flash("You are now evaluating this application.", "success")
    return redirect_303("staff.application", app_id=app_id)


@bp.post("/applications/<int:app_id>/assign")
@role_required(*MODERATOR_ROLES)
def assign(app_id: int):
    application = _load_hub(app_id)
    staff = queue.assignable_staff()
    form = AssignForm(evaluators=staff)
    if form.version.data != str(application.version):
        return _conflict(application)
    if not form.validate_on_submit():
        return _hub(application, assign_form=form, status=400)
    evaluator = db.session.get(User, int(form.evaluator.data))
    try:
        queue.assign(audit_ctx(), application, evaluator)
    except IllegalTransition as exc:
        db.session.rollback()
        return _refused(application, "You cannot assign this application", str(exc))
    except queue.AssignmentError as exc:
        db.session.rollback()
        if application.status not in queue.OPEN:
            return _refused(application, "You cannot assign this application", str(exc))
        form.evaluator.errors = [str(exc)]
        return _hub(application, assign_form=form, status=400)
    refused = _commit_or_conflict(application)
    if refused is not None:
        return refused
    flash(f"{evaluator.full_name} is now evaluating this application.", "success")
    return redirect_303("staff.application", app_id=app_id)


# ------------------------------------------------------------------ history

@bp.get("/applications/<int:app_id>/history")
def history(app_id: int):
    _commissioner_only()
    application = get_application_for_staff_or_404(app_id)
    return render("staff/history.html", title=f"History of application {application.reference}",
                  application=application, entries=timeline(application, for_provider=False),
                  for_provider=False)
