"""Clarification: evaluators ask the provider questions, the provider answers
(with an optional document), and staff see what changed since the version
they last looked at.

Staff pages load the application through get_application_for_staff_or_404;
the provider's page through `get_own_application_or_404`, so another
provider's application is a 404 on GET and POST alike.
"""
from flask import abort, current_app, flash, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.access import COMMISSIONER_ROLES, EVALUATOR_ROLES, PROVIDER_ROLES, role_required
from app.applications.summary import load_application
from app.clarifications import bp, forms
from app.domain import applications as app_rules
from app.domain import clarifications as rules
from app.domain import documents, snapshots
from app.domain.reference import DocumentKind
from app.domain.states import ApplicationStatus, IllegalTransition
from app.email import send_email
from app.evidence.views import _check_file, _commit_or_delete, _metadata
from app.extensions import db
from app.forms import spend_token
from app.models import Application, utcnow
from app.staff.access import get_application_for_staff_or_404
from app.storage import get_storage
from app.web import audit_ctx, redirect_303, render

SELECT_AGAIN = ("Select the file again. We do not keep the file when other answers have "
                "a problem")
CONFLICT = ("This application has changed since you opened this page. Nothing was saved: "
            "check the latest details and try again.")


def _refused(application, message: str, *, staff: bool):
    """409: the page was out of date or the action is not allowed now."""
    back = (url_for("staff.application", app_id=application.id) if staff
            else url_for("applications.task_list", app_id=application.id))
    return render("clarifications/refused.html", title="Nothing was saved", message=message,
                  back_url=back, status=409)


# ------------------------------------------------------------------ staff: ask

@bp.route("/staff/applications/<int:app_id>/clarifications/new", methods=["GET", "POST"])
@role_required(*EVALUATOR_ROLES)
def ask(app_id: int):
    application = get_application_for_staff_or_404(app_id)
    placement_type = _placement_type_or_404(application)
    form = forms.AskForm()
    action = request.form.get("action", "save") if request.method == "POST" else None
    if action == "save" and str(form.version.data or "") != str(application.version):
        return _refused(application, CONFLICT, staff=True)
    if application.status is not ApplicationStatus.IN_EVALUATION:
        return _refused(application, (
            "You can only ask for clarification while an application is in evaluation. "
            f"This application is {application.status.label.lower()}."), staff=True)
    rows = forms.shown_rows(form)
    if action is None:
        form.version.data = application.version
        if placement_type is not None:
            form.placement_type_id.data = placement_type.id
            form.question_1.data = rules.price_question(application, placement_type,
                                                        app_rules.today())
    elif action == "add":
        # One more box; nothing is saved.
        rows = min(rows + 1, rules.MAX_QUESTIONS)
    elif action != "save":
        abort(400)
    elif form.validate():
        try:
            rules.ask(audit_ctx(), application, current_user, forms.asked_questions(form),
                      placement_type_id=placement_type.id if placement_type else None)
        except IllegalTransition as exc:
            db.session.rollback()
            return _refused(application, str(exc), staff=True)
        except rules.ClarificationError as exc:
            db.session.rollback()
            form.question_1.errors.append(str(exc))
        else:
            spend_token(form, url_for("staff.application", app_id=app_id))
            recipients = rules.provider_recipients(application)
            questions = [q.strip() for q in forms.asked_questions(form) if q.strip()]
            try:
                db.session.commit()
            except StaleDataError:
                db.session.rollback()
                return _refused(application, CONFLICT, staff=True)
            link = url_for("clarifications.respond", app_id=app_id, _external=True)
            for to in recipients:
                send_email(to, "clarification_requested", application=application,
                           questions=questions, link=link)
            flash(f"Your questions have been sent to {application.provider.display_name}. "
                  "The application now waits on the provider.", "success")
            return redirect_303("staff.application", app_id=app_id)
    form.rows.data = rows
    return render("clarifications/ask.html",
                  fragments={"ask-form": "clarifications/_ask_form.html"},
                  title="Ask the provider for clarification", application=application,
                  form=form, rows=rows, max_rows=rules.MAX_QUESTIONS,
                  earlier=list(enumerate(snapshots.clarifications_of(application.id), start=1)),
                  status=400 if form.errors else 200)


def _placement_type_or_404(application):
    """The placement type named in the query (or form), if it is one of the
    application's; anything else is a 404."""
    raw = request.values.get("placement_type_id")
    if not raw:
        return None
    try:
        wanted = int(raw)
    except ValueError:
        abort(404)
    for alot in application.lots:
        for pt in alot.lot.placement_types:
            if pt.id == wanted:
                return pt
    abort(404)


# ------------------------------------------------------------------ staff: changes

@bp.get("/staff/applications/<int:app_id>/changes")
@role_required(*COMMISSIONER_ROLES)
def changes(app_id: int):
    application = get_application_for_staff_or_404(app_id)
    versions = snapshots.snapshots_of(app_id)
    latest = versions[-1] if versions else None
    seen_view = snapshots.last_seen(app_id, current_user.id)
    seen = next((v for v in versions if seen_view and v.id == seen_view.snapshot_id), None)
    if seen is None and len(versions) > 1:
        # Not looked here before: compare with the version as submitted, which is
        # what the application page showed them when they started.
        seen = versions[0]
    found = snapshots.diff(seen.data, latest.data) if seen and latest else []
    now = utcnow()
    evaluating, waiting = rules.evaluation_time(application, now)
    page = render("clarifications/changes.html", title="What has changed",
                  application=application, latest=latest, seen=seen,
                  first_visit=latest is not None and seen is None, changes=found,
                  evaluation_time=rules.duration_text(evaluating),
                  waiting_time=rules.duration_text(waiting))
    if latest is not None:
        # A read receipt, not a change to the application: recording on GET is
        # what "since you last looked" means, and it is harmless to repeat.
        snapshots.mark_seen(app_id, current_user.id, latest)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # the same person's other tab recorded it first
    return page


# ------------------------------------------------------------------ provider: respond

def get_own_application_or_404(app_id: int) -> Application:
    """The signed-in provider's application, loaded whole, or 404."""
    application = load_application(Application.id == app_id,
                                   Application.provider_id == current_user.provider_id)
    if application is None:
        abort(404)
    return application


@bp.route("/applications/<int:app_id>/clarifications", methods=["GET", "POST"])
@role_required(*PROVIDER_ROLES)
def respond(app_id: int):
    application = get_own_application_or_404(app_id)
    asked = snapshots.clarifications_of(app_id)
    numbered = list(enumerate(asked, start=1))
    answering = application.status is ApplicationStatus.CLARIFICATION_REQUESTED
    pending = [(n, c) for n, c in numbered if c.answer is None] if answering else []
    form = forms.answer_form(pending)()
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    doc_form = forms.document_form(None, max_bytes)
    if request.method == "POST":
        if str(form.version.data or "") != str(application.version):
            return _refused(application, CONFLICT, staff=False)
        try:
            rules.check_answerable(application)
        except IllegalTransition as exc:
            return _refused(application, str(exc), staff=False)
        if not pending:
            return _refused(application, "There are no questions to answer.", staff=False)
        result = _save_answers(application, form, doc_form, pending, max_bytes)
        if result is not None:
            return result
    else:
        form.version.data = application.version
    # Not passed as `form`: the page shows one error summary for both forms.
    return render("clarifications/respond.html", title="Questions from the lead authority",
                  application=application, answers=form, doc_form=doc_form, numbered=numbered,
                  pending=pending, has_errors=bool(form.errors or doc_form.errors),
                  status=400 if form.errors or doc_form.errors else 200)


def _save_answers(application, form, doc_form, pending, max_bytes):
    """Check everything, then store the document (if any), record the answers
    and commit once. Returns the response, or None to show the errors."""
    form.validate()
    kind = DocumentKind(form.document_kind.data) if form.document_kind.data else None
    upload = request.files.get(doc_form.file.name)
    has_file = bool(upload and upload.filename)
    chosen = checked = None
    if kind is None and has_file:
        form.document_kind.errors.append("Select what the document is")
    elif kind is not None:
        # The evidence library's own checks: content-sniffed type, name, details.
        chosen = forms.document_form(kind, max_bytes)
        chosen.validate()
        checked = _check_file(chosen)
        for name, field in chosen._fields.items():
            doc_form[name].errors = list(field.errors)
    if form.errors or doc_form.errors:
        if has_file and not doc_form.file.errors:
            # Browsers never send a file back to the page, so say what to do.
            doc_form.file.errors = [SELECT_AGAIN]
        return None
    # Before the document is stored: a twin sent at the same moment stops here.
    spend_token(form, url_for("applications.task_list", app_id=application.id))
    document = None
    if kind is not None:
        try:
            document = documents.store_document(
                audit_ctx(), get_storage(), upload.stream, checked,
                provider_id=application.provider_id, kind=kind, setting_id=None,
                uploaded_by_id=current_user.id, metadata=_metadata(chosen, kind),
                max_bytes=max_bytes)
        except documents.UploadRejected as exc:
            db.session.rollback()
            doc_form.file.errors = [str(exc)]
            return None
    answers = {c.id: form[f"answer_{c.id}"].data for _, c in pending}
    try:
        answered = rules.answer(audit_ctx(), application, current_user, answers,
                                document=document)
    except (IllegalTransition, rules.ClarificationError) as exc:
        db.session.rollback()
        if document is not None:
            get_storage().delete(document.storage_key)
        return _refused(application, str(exc), staff=False)
    recipients = rules.evaluator_recipients(application, answered)
    try:
        if document is not None:
            _commit_or_delete(document)
        else:
            db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return _refused(application, CONFLICT, staff=False)
    link = url_for("clarifications.changes", app_id=application.id, _external=True)
    for to in recipients:
        send_email(to, "clarification_answered", application=application,
                   count=len(answered), document=document, link=link)
    flash("Your answers have been sent. The evaluator will carry on with your application.",
          "success")
    return redirect_303("applications.task_list", app_id=application.id)
