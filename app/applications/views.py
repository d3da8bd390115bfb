"""The provider's application: dashboard, starting one, the task list and its
sections (save and return everywhere), check answers, submission,
confirmation and withdrawal.

Every route loads the application through `get_own_application_or_404`, so
another provider's application is a 404 on every route, GET or POST.
"""
import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict

from app.applications import bp, forms
from app.applications.summary import (SECTION_ENDPOINTS, load_application, provider_documents,
                                      provider_settings, summary_context)
from app.domain import applications as rules
from app.domain.declarations import GROUNDS
from app.domain.reference import ServiceUnit
from app.domain.states import APPLICATION_EDITABLE, ApplicationStatus
from app.email import send_email
from app.extensions import db
from app.forms import OneTimeForm, spend_token
from app.models import Application, ApplicationLot, Dps, QualityQuestion
from app.resubmission.panel import fee_review_panel
from app.staff.timeline import timeline
from app.web import audit_ctx, redirect_303, render

# Quality answers far beyond any word limit are not stored (they stay on the page).
MAX_ANSWER_CHARS = 30_000


def get_own_application_or_404(app_id: int, editable: bool = False) -> Application:
    """The signed-in provider's application, fully loaded, or 404.

    With `editable`, an application that is no longer a draft is refused: a
    POST gets a 409 page and changes nothing; a GET goes to its read-only view.
    """
    application = load_application(Application.id == app_id,
                                   Application.provider_id == current_user.provider_id)
    if application is None:
        abort(404)
    if editable:
        try:
            rules.check_editable(application)
        except rules.NotEditable:
            if request.method == "GET":
                abort(redirect(url_for("applications.task_list", app_id=app_id)))
            abort(_not_editable(application))
    return application


def _not_editable(application):
    body, _ = render("applications/not_editable.html", title="You cannot change this application",
                     application=application)
    return make_response(body, 409)


def _open_lots() -> list:
    on = rules.today()
    schemes = db.session.execute(
        sa.select(Dps).options(selectinload(Dps.lots)).order_by(Dps.opens_on, Dps.id)
    ).scalars().all()
    return [lot for dps in schemes if dps.is_open(on) for lot in dps.lots]


def _emails_for(application) -> list[str]:
    """The user acting, and the organisation's contact if that is someone else."""
    to = [current_user.email]
    contact = (application.provider.contact_email or "").strip()
    if contact and contact.lower() != current_user.email.lower():
        to.append(contact)
    return to


# ------------------------------------------------------------------ dashboard

@bp.get("/")
def index():
    if current_user.provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    own = db.session.execute(
        sa.select(Application)
        .where(Application.provider_id == current_user.provider_id)
        .options(selectinload(Application.lots).selectinload(ApplicationLot.lot),
                 selectinload(Application.dps))
        .order_by(Application.updated_at.desc(), Application.id.desc())
    ).scalars().all()
    taken = rules.lots_taken(current_user.provider_id)
    can_start = any(lot.id not in taken for lot in _open_lots())
    return render("applications/index.html", title="Your applications", applications=own,
                  can_start=can_start, **fee_review_panel(current_user.provider_id))


@bp.route("/new", methods=["GET", "POST"])
def new():
    if current_user.provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    lots = _open_lots()
    taken = rules.lots_taken(current_user.provider_id)
    form = forms.lots_form(lots, "Start application", base=OneTimeForm)()
    if form.validate_on_submit():
        by_id = {lot.id: lot for lot in lots}
        try:
            application = rules.start_application(
                audit_ctx(), current_user.provider, current_user,
                [by_id[i] for i in form.lots.data], rules.today())
        except rules.ApplicationError as exc:
            form.lots.errors.append(str(exc))
        else:
            spend_token(form, url_for("applications.task_list", app_id=application.id))
            db.session.commit()
            flash("Application started. Complete each section, in any order.", "success")
            return redirect_303("applications.task_list", app_id=application.id)
    return render("applications/new.html", title="Choose the lots to apply for", form=form,
                  lots=lots, taken=taken, status=400 if form.errors else 200)


# ------------------------------------------------------------------ task list

@bp.get("/<int:app_id>")
def task_list(app_id: int):
    application = get_own_application_or_404(app_id)
    documents = provider_documents(application.provider_id)
    if application.status in APPLICATION_EDITABLE:
        state = rules.progress(application, documents, rules.today())
        return render("applications/task_list.html", title="Your application",
                      application=application, progress=state, sections=rules.SECTIONS,
                      section_endpoints=SECTION_ENDPOINTS,
                      can_withdraw=rules.can_withdraw(application))
    return render("applications/view.html",
                  title=f"Application {application.reference or ''}".strip(),
                  can_withdraw=rules.can_withdraw(application),
                  **summary_context(application, documents, changeable=False, downloads=True))


# ------------------------------------------------------------------ sections

def _section_page(app_id: int, key: str, template: str, make_form, save, context=None):
    """GET shows what is saved. POST refuses a stale page (409), validates,
    saves what is valid, then returns to the task list, or shows the errors
    (400) with everything typed kept."""
    application = get_own_application_or_404(app_id, editable=True)
    form_class, prefill = make_form(application)
    form = forms.build(form_class, {**prefill, "version": application.version})
    if hasattr(form, "custom"):
        forms.number_rows(form)

    def page(status=200, **extra):
        ctx = context(application) if context else {}
        return render(template, title=rules.SECTION_TITLES[key], application=application,
                      form=form, section=key, status=status, **ctx, **extra)

    if request.method == "GET":
        return page()
    try:
        rules.check_version(application, form.version.data)
    except rules.VersionConflict:
        # The warning is on the page now, so saving again is a deliberate overwrite.
        form.version.data = application.version
        return page(409, page_errors=[{"text": rules.CONFLICT_MESSAGE}])
    valid = form.validate()
    try:
        saved_some = save(application, form, valid)
        db.session.commit()
    except rules.ApplicationError as exc:
        db.session.rollback()
        application = get_own_application_or_404(app_id, editable=True)
        return page(400, page_errors=[{"text": str(exc)}])
    except StaleDataError:
        # A colleague's save landed between our check and our write.
        db.session.rollback()
        application = get_own_application_or_404(app_id, editable=True)
        form.version.data = application.version
        return page(409, page_errors=[{"text": rules.CONFLICT_MESSAGE}])
    if valid:
        flash(f"{rules.SECTION_TITLES[key]}: your answers are saved.", "success")
        return redirect_303("applications.task_list", app_id=app_id)
    # Reload after the commit so the page (and its version) shows what is stored.
    application = get_own_application_or_404(app_id, editable=True)
    form.version.data = application.version
    return page(400, saved_some=saved_some)


@bp.route("/<int:app_id>/organisation", methods=["GET", "POST"])
def organisation(app_id: int):
    def save(application, form, valid):
        rules.confirm_organisation(audit_ctx(), application)
        return True

    return _section_page(
        app_id, "organisation", "applications/organisation.html",
        lambda application: (forms.ConfirmOrganisationForm, {}), save,
        lambda application: {"provider": application.provider,
                             "missing": rules.profile_missing(application.provider),
                             "org_status": rules.organisation_status(application)})


@bp.route("/<int:app_id>/declarations", methods=["GET", "POST"])
def declarations(app_id: int):
    def save(application, form, valid):
        given = {}
        for ground in GROUNDS:
            answer = form[f"ground_{ground.code}"].data
            explanation = form[f"explanation_{ground.code}"]
            too_long = len(explanation.data or "") > 5000
            if answer in ("yes", "no") and not too_long:
                given[ground.code] = (answer == "yes", explanation.data or "")
        if given:
            rules.save_declarations(audit_ctx(), application, given)
        return bool(given)

    return _section_page(
        app_id, "declarations", "applications/declarations.html",
        lambda application: forms.declarations_form(rules.answers(application)), save,
        lambda application: {"mandatory": [g for g in GROUNDS if g.mandatory],
                             "discretionary": [g for g in GROUNDS if not g.mandatory]})


@bp.route("/<int:app_id>/lots", methods=["GET", "POST"])
def lots(app_id: int):
    settings = provider_settings(current_user.provider_id)
    by_id = {s.id: s for s in settings}

    def save(application, form, valid):
        chosen = {}
        for alot in application.lots:
            field = form[f"settings_{alot.lot_id}"]
            if not field.errors:
                chosen[alot.lot_id] = [by_id[i] for i in field.data]
            elif not field.data:
                chosen[alot.lot_id] = []  # cleared: store that, and say a setting is needed
        if chosen:
            rules.save_lot_settings(audit_ctx(), application, chosen)
        return bool(chosen)

    def context(application):
        return {"eligible": {alot.lot_id: rules.eligible_settings(settings, alot.lot)
                             for alot in application.lots},
                "problems": {(alot.lot_id, s.id): rules.setting_problem(s, alot.lot)
                             for alot in application.lots for s in settings},
                "has_settings": bool(settings)}

    return _section_page(app_id, "lots", "applications/lots.html",
                         lambda application: forms.lot_settings_form(application, settings),
                         save, context)


@bp.route("/<int:app_id>/lots/change", methods=["GET", "POST"])
def lots_change(app_id: int):
    application = get_own_application_or_404(app_id, editable=True)
    all_lots = list(application.dps.lots)
    taken = rules.lots_taken(application.provider_id, exclude_application_id=application.id)
    form_class = forms.lots_form(all_lots, "Save lots", base=forms.SectionForm)
    form = forms.build(form_class, {"lots": [alot.lot_id for alot in application.lots],
                                    "version": application.version})

    def page(status=200, **extra):
        return render("applications/lots_change.html", title="Change the lots you are applying for",
                      application=application, form=form, lots=all_lots, taken=taken,
                      status=status, **extra)

    if request.method == "GET":
        return page()
    try:
        rules.check_version(application, form.version.data)
    except rules.VersionConflict:
        form.version.data = application.version
        return page(409, page_errors=[{"text": rules.CONFLICT_MESSAGE}])
    if form.validate():
        by_id = {lot.id: lot for lot in all_lots}
        try:
            rules.set_lots(audit_ctx(), application, [by_id[i] for i in form.lots.data],
                           rules.today())
            db.session.commit()
        except rules.ApplicationError as exc:
            db.session.rollback()
            application = get_own_application_or_404(app_id, editable=True)
            form.lots.errors.append(str(exc))
        except StaleDataError:
            db.session.rollback()
            application = get_own_application_or_404(app_id, editable=True)
            form.version.data = application.version
            return page(409, page_errors=[{"text": rules.CONFLICT_MESSAGE}])
        else:
            flash("The lots you are applying for are updated.", "success")
            return redirect_303("applications.lots", app_id=app_id)
    return page(400)


@bp.route("/<int:app_id>/prices", methods=["GET", "POST"])
def prices(app_id: int):
    def save(application, form, valid):
        given = {}
        for lot in rules.chosen_lots(application):
            for pt in lot.placement_types:
                field = form[f"price_{pt.id}"]
                if not field.errors:
                    given[pt.id] = field.value
                elif not (field.data or "").strip():
                    given[pt.id] = None  # cleared
        if given:
            rules.save_prices(audit_ctx(), application, given)
        return bool(given)

    return _section_page(app_id, "prices", "applications/prices.html",
                         lambda a: forms.prices_form(a, rules.answers(a)),
                         save)


@bp.route("/<int:app_id>/services", methods=["GET", "POST"])
def services(app_id: int):
    action = request.form.get("action", "save") if request.method == "POST" else "save"
    if action != "save":
        return _services_rows(app_id, action)

    def save(application, form, valid):
        rates = {}
        for lot in rules.chosen_lots(application):
            for item in lot.service_items:
                field = form[f"rate_{item.id}"]
                if not field.errors:
                    rates[item.id] = field.value
        custom = None
        if not form.custom.errors:
            custom = [rules.CustomItem(lot_id=entry.form.lot.data, name=entry.form.name.data,
                                       unit=ServiceUnit(entry.form.unit.data),
                                       rate=entry.form.rate.value)
                      for entry in form.custom.entries if not entry.form.blank]
        rules.save_services(audit_ctx(), application, rates, custom, complete=valid)
        return True

    return _section_page(app_id, "services", "applications/services.html",
                         lambda a: forms.services_form(a, rules.answers(a)),
                         save, _services_context)


def _services_context(application):
    return {"fragments": {"services-form": "applications/_services_form.html"},
            "max_rows": rules.MAX_CUSTOM_ITEMS}


def _services_rows(app_id: int, action: str):
    """"Add another item" and "Remove": re-show the form with one row more or
    less, saving nothing. With htmx only the form fragment is swapped."""
    application = get_own_application_or_404(app_id, editable=True)
    form_class, _ = forms.services_form(application, rules.answers(application))
    formdata = request.form
    if action.startswith("remove-"):
        prefix = f"custom-{action.removeprefix('remove-')}-"
        formdata = MultiDict([(k, v) for k, v in request.form.items(multi=True)
                              if not k.startswith(prefix)])
    elif action != "add":
        abort(400)
    form = form_class(formdata=formdata)
    if action == "add" and len(form.custom.entries) < rules.MAX_CUSTOM_ITEMS:
        form.custom.append_entry()
    forms.number_rows(form)
    return render("applications/services.html", fragments={
        "services-form": "applications/_services_form.html"},
        title=rules.SECTION_TITLES["services"], application=application, form=form,
        section="services", max_rows=rules.MAX_CUSTOM_ITEMS)


@bp.route("/<int:app_id>/terms", methods=["GET", "POST"])
def terms(app_id: int):
    def save(application, form, valid):
        rules.save_terms(audit_ctx(), application, current_user,
                         {alot.lot_id: bool(form[f"accept_{alot.lot_id}"].data)
                          for alot in application.lots})
        return True

    return _section_page(app_id, "terms", "applications/terms.html",
                         lambda application: forms.terms_form(application), save)


@bp.get("/<int:app_id>/evidence")
def evidence(app_id: int):
    application = get_own_application_or_404(app_id, editable=True)
    documents = provider_documents(application.provider_id)
    on = rules.today()
    return render("applications/evidence.html", title=rules.SECTION_TITLES["evidence"],
                  application=application,
                  items=rules.evidence_items(application, documents, on),
                  problems=rules.application_evidence_problems(application, documents, on),
                  here=url_for("applications.evidence", app_id=app_id))


@bp.route("/<int:app_id>/quality", methods=["GET", "POST"])
def quality(app_id: int):
    def save(application, form, valid):
        given = {}
        for lot in rules.chosen_lots(application):
            for q in lot.quality_questions:
                text = form[f"answer_{q.id}"].data or ""
                if len(text) <= MAX_ANSWER_CHARS:
                    given[q.id] = text
        rules.save_quality_answers(audit_ctx(), application, given)
        return True

    def context(application):
        lots = rules.chosen_lots(application)
        return {"labels": rules.question_labels(lots), "word_count": rules.word_count_message}

    return _section_page(app_id, "quality", "applications/quality.html",
                         lambda a: forms.quality_form(a, rules.answers(a)),
                         save, context)


@bp.post("/<int:app_id>/quality/<int:question_id>/word-count")
def word_count(app_id: int, question_id: int):
    """The live word count under a quality answer (htmx, as the person types)."""
    owned = db.session.execute(
        sa.select(Application.id).where(Application.id == app_id,
                                        Application.provider_id == current_user.provider_id)
    ).scalar_one_or_none()
    question = db.session.execute(
        sa.select(QualityQuestion)
        .join(ApplicationLot, ApplicationLot.lot_id == QualityQuestion.lot_id)
        .where(QualityQuestion.id == question_id, ApplicationLot.application_id == app_id)
    ).scalar_one_or_none() if owned else None
    if question is None:
        abort(404)
    if not request.headers.get("HX-Request"):
        return redirect_303("applications.quality", app_id=app_id)
    text = request.form.get(f"answer_{question.id}", "")
    message, over = rules.word_count_message(text, question.word_limit)
    return render("applications/_word_count.html", fragments={
        f"word-count-{question.id}": "applications/_word_count.html"},
        question=question, message=message, over=over)


# ------------------------------------------------------------------ submit

def _check_answers_page(application, form, status=200, refused=None):
    documents = provider_documents(application.provider_id)
    problems = refused if refused is not None else rules.submission_problems(
        application, documents, rules.today())
    return render("applications/check_answers.html", title="Check your answers before submitting",
                  declaration_form=form, problems=problems, refused=refused is not None,
                  status=status,
                  **summary_context(application, documents, changeable=True, downloads=False))


@bp.get("/<int:app_id>/check")
def check_answers(app_id: int):
    application = get_own_application_or_404(app_id, editable=True)
    return _check_answers_page(application, forms.FinalDeclarationForm())


@bp.post("/<int:app_id>/submit")
def submit(app_id: int):
    application = get_own_application_or_404(app_id, editable=True)
    form = forms.FinalDeclarationForm()
    documents = provider_documents(application.provider_id)
    on = rules.today()
    if not form.validate():
        return _check_answers_page(application, form, 400,
                                   refused=rules.submission_problems(application, documents, on))
    try:
        rules.submit(audit_ctx(), application, current_user, documents, on,
                     full_name=form.full_name.data)
    except rules.SubmitRefused as exc:
        db.session.rollback()
        application = get_own_application_or_404(app_id, editable=True)
        return _check_answers_page(application, form, 400, refused=exc.problems)
    recipients = _emails_for(application)
    reference = application.reference
    db.session.commit()
    link = url_for("applications.task_list", app_id=app_id, _external=True)
    for to in recipients:
        send_email(to, "application_submitted", application=application, reference=reference,
                   link=link)
    return redirect_303("applications.confirmation", app_id=app_id)


@bp.get("/<int:app_id>/confirmation")
def confirmation(app_id: int):
    application = get_own_application_or_404(app_id)
    if application.reference is None:  # never submitted (a draft, or a withdrawn draft)
        return redirect(url_for("applications.task_list", app_id=app_id))
    return render("applications/confirmation.html", title="Application submitted",
                  application=application)


@bp.route("/<int:app_id>/withdraw", methods=["GET", "POST"])
def withdraw(app_id: int):
    application = get_own_application_or_404(app_id)
    if not rules.can_withdraw(application):
        abort(_not_editable(application))
    form = forms.WithdrawForm()
    if form.validate_on_submit():
        reason = (form.reason.data or "").strip()
        if application.status is not ApplicationStatus.DRAFT and not reason:
            # A submitted application was looked at by the council: say why.
            form.reason.errors.append("Enter why you are withdrawing this application")
        else:
            recipients = _emails_for(application)
            rules.withdraw(audit_ctx(), application, reason)
            label = application.reference or "Your draft application"
            db.session.commit()
            link = url_for("applications.task_list", app_id=app_id, _external=True)
            for to in recipients:
                send_email(to, "application_withdrawn", application=application, label=label,
                           reason=reason, link=link)
            flash(f"{label} has been withdrawn.", "success")
            return redirect_303("applications.index")
    return render("applications/withdraw.html", title="Withdraw your application",
                  application=application, form=form, status=400 if form.errors else 200)


@bp.get("/<int:app_id>/history")
def history(app_id: int):
    """The provider's timeline: events not marked internal, staff shown as the
    lead authority, never by name."""
    application = get_own_application_or_404(app_id)
    return render("applications/history.html", title="History of your application",
                  application=application, entries=timeline(application, for_provider=True),
                  for_provider=True)
