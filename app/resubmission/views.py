"""The provider's annual fee review: its invitations, proposing new prices line
by line (with the uplift worked out on the server as it types), checking and
submitting before the deadline, answering counter-offers, the negotiation
thread, and the outcome.

Every route loads the submission through `_own_submission_or_404`, so another
organisation's submission is a 404 on every route, GET or POST. The rules
are in app.domain.fee_review; views parse, call it, commit once and email
after the commit.
"""
from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.domain import fee_review
from app.domain.applications import today
from app.domain.compliance import Outgoing
from app.domain.states import SUBMISSION_EDITABLE, LineDecision, Role, SubmissionStatus
from app.email import unique_addresses
from app.extensions import db
from app.forms import spend_token
from app.jobs.fee_review import send_emails
from app.models import (Document, FeeReviewLine, FeeReviewMessage, FeeReviewRound,
                        FeeReviewSubmission, User)
from app.resubmission import bp, forms
from app.web import audit_ctx, redirect_303, render

EDIT_PAGE = "resubmission/edit.html"
# The live calculation swaps the overall figures (its target) and, out of
# band, each line's uplift cell: never the inputs being typed in.
CALCULATION = {"uplift-summary": "resubmission/_calculation.html"}
CONFLICT_MESSAGE = ("Someone else in your organisation has changed this fee review since you "
                    "opened this page. Your changes have not been saved: check the prices "
                    "below and save again.")


# ------------------------------------------------------------------ loading

def _own_submission_or_404(submission_id: int, *, lock: bool = False) -> FeeReviewSubmission:
    """The signed-in provider's submission with its round and lines, or 404.
    `lock` (POSTs that change state) makes a second, simultaneous request wait
    and then see what the first one did."""
    query = (sa.select(FeeReviewSubmission)
             .options(joinedload(FeeReviewSubmission.round).joinedload(FeeReviewRound.dps),
                      joinedload(FeeReviewSubmission.evidence_document),
                      selectinload(FeeReviewSubmission.lines).joinedload(FeeReviewLine.lot))
             .where(FeeReviewSubmission.id == submission_id,
                    FeeReviewSubmission.provider_id == current_user.provider_id))
    if lock:
        query = query.with_for_update(of=FeeReviewSubmission)
    submission = db.session.execute(query).unique().scalar_one_or_none()
    if submission is None:
        abort(404)
    return submission


def _reload(submission_id: int) -> FeeReviewSubmission:
    db.session.rollback()
    db.session.expire_all()
    return _own_submission_or_404(submission_id)


def _documents(provider_id: int) -> list[Document]:
    return db.session.execute(
        sa.select(Document).where(Document.provider_id == provider_id).order_by(Document.id)
    ).scalars().all()


def _messages(submission: FeeReviewSubmission) -> list[FeeReviewMessage]:
    return db.session.execute(
        sa.select(FeeReviewMessage).options(joinedload(FeeReviewMessage.author))
        .where(FeeReviewMessage.submission_id == submission.id)
        .order_by(FeeReviewMessage.id)).scalars().all()


@dataclass
class LotGroup:
    """The lines of one lot: weekly ceiling prices first, then additional services."""
    lot: object
    weekly: list
    services: list


def _groups(items, line_of=lambda item: item) -> list[LotGroup]:
    groups: dict[int, LotGroup] = {}
    for item in items:
        line = line_of(item)
        group = groups.setdefault(line.lot_id, LotGroup(line.lot, [], []))
        (group.weekly if line.is_weekly_fee else group.services).append(item)
    return sorted(groups.values(), key=lambda g: g.lot.number)


def _common(submission: FeeReviewSubmission, on) -> dict:
    """What every page of a submission shows: the round and its guidance."""
    rnd = submission.round
    return {"submission": submission, "round": rnd, "dps": rnd.dps,
            "deadline": fee_review.deadline(submission), "today": on,
            "extended": submission.extended_until is not None
            and submission.extended_until > rnd.closes_on}


# ------------------------------------------------------------------ my fee reviews

@bp.get("/")
def index():
    if current_user.provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    submissions = fee_review.provider_submissions(current_user.provider_id)
    return render("resubmission/index.html", title="Your fee reviews", submissions=submissions,
                  deadlines={s.id: fee_review.deadline(s) for s in submissions},
                  editable=SUBMISSION_EDITABLE, today=today())


# ------------------------------------------------------------------ the submission

@bp.route("/<int:submission_id>", methods=["GET", "POST"])
def show(submission_id: int):
    """The page a provider's emails link to: the proposal form while it can
    still propose, the deadline refusal once it cannot, otherwise the outcome
    so far (with a way to answer counter-offers)."""
    submission = _own_submission_or_404(submission_id, lock=request.method == "POST")
    on = today()
    if submission.status in SUBMISSION_EDITABLE:
        if not fee_review.can_submit(submission, on):
            return _deadline_passed(submission, on, 409 if request.method == "POST" else 200)
        return _proposal(submission, on)
    if request.method == "POST":
        return _not_editable(submission, on)
    return _view_page(submission, on)


def _view_page(submission, on, status=200, message_form=None):
    preview = fee_review.preview(submission)
    agreed_uplift = (fee_review.overall_uplift(submission.current_total, submission.agreed_total)
                     if submission.agreed_total is not None else None)
    return render("resubmission/view.html", title=submission.round.name,
                  groups=_groups(preview.lines, lambda lp: lp.line), preview=preview,
                  agreed_uplift=agreed_uplift, countered=_countered(submission),
                  messages=_messages(submission),
                  message_form=message_form or forms.MessageForm(formdata=None),
                  status=status, **_common(submission, on))


def _not_editable(submission, on):
    body, _ = render("resubmission/not_editable.html", title="Your prices can no longer be "
                     "changed", **_common(submission, on))
    return make_response(body, 409)


def _deadline_passed(submission, on, status=200, message_form=None):
    return render("resubmission/deadline_passed.html", title="The deadline has passed",
                  messages=_messages(submission),
                  message_form=message_form or forms.MessageForm(formdata=None),
                  status=status, **_common(submission, on))


# ------------------------------------------------------------------ proposing prices

def _proposals(form, lines) -> tuple[dict[int, fee_review.LineInput], dict[str, str], set[int]]:
    """What was typed, per line. Returns the proposals, format errors keyed
    by field name, and the lines whose amount could not be read (left
    unchanged in the calculation)."""
    proposals, errors, unreadable = {}, {}, set()
    for line in lines:
        name = forms.amount_name(line.id)
        try:
            amount = forms.parse_amount(form[name].data, line.label)
        except ValueError as exc:
            errors[name] = str(exc)
            unreadable.add(line.id)
            amount = None
        proposals[line.id] = fee_review.LineInput(
            amount=amount, justification=form[forms.justification_name(line.id)].data or "")
    return proposals, errors, unreadable


def _evidence_id(form) -> int | None:
    try:
        return int(form.evidence.data) if form.evidence.data else None
    except (TypeError, ValueError):
        return -1  # not one of the organisation's documents: the domain says so


def _add_errors(form, errors: dict[str, str], fallback: str = "justification") -> None:
    """Put the domain's messages on their fields (a message about the whole
    form on `fallback`), so they show beside the field and in the summary."""
    for name, message in errors.items():
        field = form._fields.get(name) or form[fallback]
        field.errors = [*field.errors, message] if field.errors else [message]


def _justification_shown(line_preview, text: str | None) -> bool:
    """A line asks for its own justification once it is above the guidance,
    and keeps it while it holds one."""
    return line_preview.above_guidance or bool((text or "").strip())


def _proposal_page(submission, form, preview, on, status=200, unreadable=frozenset(),
                   page_errors=None, warnings=None, message_form=None, swap_rows=()):
    shown = {lp.line.id: _justification_shown(lp, form[forms.justification_name(lp.line.id)].data)
             for lp in preview.lines}
    return render(EDIT_PAGE, fragments=CALCULATION, title=submission.round.name, form=form,
                  preview=preview, groups=_groups(preview.lines, lambda lp: lp.line),
                  unreadable=unreadable, shown=shown, swap_rows=swap_rows,
                  page_errors=page_errors or [],
                  warnings=warnings or {}, messages=_messages(submission),
                  message_form=message_form or forms.MessageForm(formdata=None),
                  status=status, **_common(submission, on))


def _build_form(submission, documents, *, from_request: bool):
    build = forms.proposal_form(submission.lines, documents, submission.evidence_document_id)
    if from_request:
        return build()
    return build(formdata=None, data=forms.proposal_prefill(submission))


def _warnings(submission) -> dict[str, str]:
    """What would stop the saved draft being submitted (shown, not blocking)."""
    if submission.status is SubmissionStatus.INVITED:
        return {}
    return fee_review.submission_errors(submission)


def _proposal(submission, on):
    documents = _documents(submission.provider_id)
    if request.method == "GET":
        form = _build_form(submission, documents, from_request=False)
        return _proposal_page(submission, form, fee_review.preview(submission), on,
                              warnings=_warnings(submission))
    form = _build_form(submission, documents, from_request=True)
    action = request.form.get("action", "save")
    if action not in ("calculate", "save", "check"):
        abort(400)
    proposals, parse_errors, unreadable = _proposals(form, submission.lines)
    form.validate()

    def page(status, errors=None, page_errors=None):
        # The figures are always those of what was typed, which the page keeps.
        _add_errors(form, errors or {})
        return _proposal_page(submission, form, fee_review.preview(submission, proposals), on,
                              status, unreadable, page_errors=page_errors)

    if action == "calculate":
        # Nothing is saved: the figures for what was typed, with what was typed.
        return page(400 if parse_errors or form.errors else 200, parse_errors)
    if str(form.version.data or "") != str(submission.version):
        form.version.data = submission.version  # saving again is now deliberate
        return page(409, page_errors=[{"text": CONFLICT_MESSAGE}])
    if parse_errors or form.errors:
        return page(400, parse_errors)
    try:
        errors = fee_review.save_proposal(submission, proposals, form.justification.data or "",
                                          _evidence_id(form), current_user, audit_ctx())
    except fee_review.FeeReviewError as exc:
        submission = _reload(submission.id)
        return page(409, page_errors=[{"text": exc.message}])
    if errors:
        submission = _reload(submission.id)
        return page(400, errors)
    try:
        db.session.commit()
    except StaleDataError:
        submission = _reload(submission.id)
        form.version.data = submission.version
        return page(409, page_errors=[{"text": CONFLICT_MESSAGE}])
    if action == "save":
        flash("Your draft is saved. You can come back to it until the deadline.", "success")
        return redirect_303("resubmission.show", submission_id=submission.id)
    blocking = fee_review.submission_errors(submission)
    if blocking:
        # Saved, but not ready to submit: say what to put right, on this page.
        form.version.data = submission.version
        return page(400, blocking)
    return redirect_303("resubmission.check", submission_id=submission.id)


@bp.post("/<int:submission_id>/calculate")
def calculate(submission_id: int):
    """The uplift of what is typed, as it is typed (htmx). Returns the
    figures only; without htmx the whole page, as its Calculate button does."""
    submission = _own_submission_or_404(submission_id)
    on = today()
    if submission.status not in SUBMISSION_EDITABLE or not fee_review.can_submit(submission, on):
        if request.headers.get("HX-Request"):
            response = make_response("", 200)
            response.headers["HX-Redirect"] = url_for("resubmission.show",
                                                      submission_id=submission.id)
            return response
        return redirect_303("resubmission.show", submission_id=submission.id)
    form = _build_form(submission, _documents(submission.provider_id), from_request=True)
    proposals, parse_errors, unreadable = _proposals(form, submission.lines)
    preview = fee_review.preview(submission, proposals)
    form.validate()
    _add_errors(form, parse_errors)
    # Justification rows the page lacks and now needs. A row already on the
    # page is never sent back: someone may be typing in it.
    swap_rows = [lp for lp in preview.lines
                 if _justification_shown(lp, form[forms.justification_name(lp.line.id)].data)
                 and forms.justification_name(lp.line.id) not in request.form]
    return _proposal_page(submission, form, preview, on, 400 if form.errors else 200,
                          unreadable, swap_rows=swap_rows)


# ------------------------------------------------------------------ check and submit

def _check_page(submission, on, form, status=200, problem=None):
    preview = fee_review.preview(submission)
    changed = [lp for lp in preview.lines if lp.line.proposed_amount is not None]
    return render("resubmission/check.html", title="Check your new prices before submitting",
                  form=form, preview=preview, groups=_groups(changed, lambda lp: lp.line),
                  unchanged=len(preview.lines) - len(changed),
                  blocking=fee_review.submission_errors(submission), problem=problem,
                  status=status, **_common(submission, on))


@bp.get("/<int:submission_id>/check")
def check(submission_id: int):
    submission = _own_submission_or_404(submission_id)
    on = today()
    if submission.status not in SUBMISSION_EDITABLE or not fee_review.can_submit(submission, on):
        return redirect(url_for("resubmission.show", submission_id=submission.id))
    return _check_page(submission, on, forms.SubmitForm(formdata=None,
                                                        data={"version": submission.version}))


@bp.post("/<int:submission_id>/submit")
def submit(submission_id: int):
    submission = _own_submission_or_404(submission_id, lock=True)
    on = today()
    form = forms.SubmitForm()
    if submission.status not in SUBMISSION_EDITABLE:
        if submission.submitted_at is not None:
            # Pressed twice, or a colleague got there first: it is submitted once.
            return redirect_303("resubmission.confirmation", submission_id=submission.id)
        return _not_editable(submission, on)
    if not form.validate():
        abort(400)  # only a missing CSRF token gets here; its own page explains
    if not fee_review.can_submit(submission, on):
        return _deadline_passed(submission, on, 409)
    if str(form.version.data or "") != str(submission.version):
        form.version.data = submission.version
        return _check_page(submission, on, form, 409,
                           "Someone else in your organisation has changed these prices since "
                           "you opened this page. Check them again, then submit.")
    if fee_review.submission_errors(submission):
        return _check_page(submission, on, form, 400)
    try:
        fee_review.submit(submission, current_user, audit_ctx(), on)
        db.session.flush()
    except fee_review.FeeReviewError as exc:
        submission = _reload(submission_id)
        return _check_page(submission, on, form, 409, exc.message)
    except StaleDataError:
        submission = _reload(submission_id)
        if submission.submitted_at is not None:
            return redirect_303("resubmission.confirmation", submission_id=submission.id)
        form.version.data = submission.version
        return _check_page(submission, on, form, 409, CONFLICT_MESSAGE)
    outgoing = fee_review.submitted_emails(submission)
    if current_user.email.lower() not in {o.to.lower() for o in outgoing}:
        # The confirmation page promises the person who submitted an email.
        outgoing.append(Outgoing(
            to=current_user.email, template="fee_review_submitted",
            context={"submission": submission, "round": submission.round,
                     "provider": submission.provider},
            links={"link": ("resubmission.show", {"submission_id": submission.id})}))
    try:
        db.session.commit()
    except StaleDataError:
        submission = _reload(submission_id)
        if submission.submitted_at is not None:
            # A twin of this request (a double click) submitted it first.
            return redirect_303("resubmission.confirmation", submission_id=submission.id)
        form.version.data = submission.version
        return _check_page(submission, on, form, 409, CONFLICT_MESSAGE)
    send_emails(outgoing)
    return redirect_303("resubmission.confirmation", submission_id=submission.id)


@bp.get("/<int:submission_id>/confirmation")
def confirmation(submission_id: int):
    submission = _own_submission_or_404(submission_id)
    if submission.submitted_at is None:
        return redirect(url_for("resubmission.show", submission_id=submission.id))
    return render("resubmission/confirmation.html", title="New prices submitted",
                  **_common(submission, today()))


# ------------------------------------------------------------------ counter-offers

def _countered(submission) -> list[FeeReviewLine]:
    return [ln for ln in submission.lines if ln.decision is LineDecision.COUNTERED]


def _respond_page(submission, on, form, status=200, problem=None):
    lines = _countered(submission)
    return render("resubmission/respond.html", title="Respond to the counter-offer", form=form,
                  groups=_groups(lines), lines=lines, problem=problem,
                  uplift=fee_review.uplift, messages=_messages(submission), status=status,
                  **_common(submission, on))


def _responses(form, lines) -> tuple[dict[int, fee_review.ResponseInput], dict[str, str]]:
    """Each countered line's answer as typed, and format errors by field name."""
    responses, errors = {}, {}
    for line in lines:
        choice = form[forms.response_name(line.id)].data
        typed = (form[forms.amount_name(line.id)].data or "").strip()
        if not choice:
            if not typed:
                errors[forms.response_name(line.id)] = (
                    f"Select whether you accept the counter-offer on {line.label}")
                continue
            choice = forms.REPLY  # a price typed without choosing is a reply
        amount = None
        if choice == forms.REPLY:
            name = forms.amount_name(line.id)
            try:
                amount = forms.parse_amount(form[name].data, line.label)
            except ValueError as exc:
                errors[name] = str(exc)
            else:
                if amount is None:
                    errors[name] = f"Enter the price you ask for {line.label}"
        responses[line.id] = fee_review.ResponseInput(accept=choice == forms.ACCEPT,
                                                      amount=amount)
    return responses, errors


@bp.route("/<int:submission_id>/respond", methods=["GET", "POST"])
def respond(submission_id: int):
    submission = _own_submission_or_404(submission_id, lock=request.method == "POST")
    on = today()
    if submission.status is not SubmissionStatus.NEGOTIATING:
        if request.method == "GET":
            return redirect(url_for("resubmission.show", submission_id=submission.id))
        return _not_editable(submission, on)
    lines = _countered(submission)
    form_class = forms.response_form(lines)
    if request.method == "GET":
        return _respond_page(submission, on, form_class(
            formdata=None, data={"version": submission.version}))
    form = form_class()
    if str(form.version.data or "") != str(submission.version):
        form.version.data = submission.version
        return _respond_page(submission, on, form, 409,
                             "The commissioning team or a colleague has changed this fee review "
                             "since you opened this page. Nothing has been saved: check the "
                             "counter-offers below and answer again.")
    form.validate()
    responses, errors = _responses(form, lines)
    if form.errors or errors:
        _add_errors(form, errors, fallback="message")
        return _respond_page(submission, on, form, 400)
    try:
        errors = fee_review.respond_to_counters(submission, responses, form.message.data or "",
                                                current_user, audit_ctx(), on)
        db.session.flush()
    except fee_review.FeeReviewError as exc:
        submission = _reload(submission_id)
        return _respond_page(submission, on, form, 409, exc.message)
    except StaleDataError:
        submission = _reload(submission_id)
        form.version.data = submission.version
        return _respond_page(submission, on, form, 409, CONFLICT_MESSAGE)
    if errors:
        submission = _reload(submission_id)
        _add_errors(form, errors, fallback="message")
        return _respond_page(submission, on, form, 400)
    outgoing = (fee_review.emails_after(submission) + _response_emails(submission)
                + _approval_emails(submission))
    agreed = submission.status is SubmissionStatus.AGREED
    try:
        db.session.commit()
    except StaleDataError:
        submission = _reload(submission_id)
        form.version.data = submission.version
        return _respond_page(submission, on, form, 409, CONFLICT_MESSAGE)
    send_emails(outgoing)
    flash("You have accepted the counter-offer. Your new prices are agreed." if agreed else
          "Your answer has been sent to the commissioning team.", "success")
    return redirect_303("resubmission.show", submission_id=submission.id)


def _response_emails(submission) -> list[Outgoing]:
    """Tell the commissioners who decided the submission's lines that the
    provider has answered."""
    ids = {ln.decided_by_id for ln in submission.lines if ln.decided_by_id}
    if not ids:
        return []
    addresses = unique_addresses(db.session.execute(
        sa.select(User.email).where(User.id.in_(ids), User.is_active_account.is_(True),
                                    User.role.in_((Role.EVALUATOR, Role.MANAGER, Role.ADMIN)))
        .order_by(User.id)).scalars().all())
    context = {"submission": submission, "round": submission.round,
               "provider": submission.provider}
    link = ("fee_reviews.submission", {"round_id": submission.round_id,
                                       "submission_id": submission.id})
    return [Outgoing(to=to, template="fee_review_response", context=context,
                     links={"link": link}) for to in addresses]


def _approval_emails(submission) -> list[Outgoing]:
    """When the provider's answer settled every line above guidance, the
    commissioning managers other than the proposer are asked to approve."""
    if submission.status is not SubmissionStatus.AWAITING_APPROVAL:
        return []
    proposer_id = submission.agreement_proposed_by_id
    managers = db.session.execute(
        sa.select(User.email, User.id).where(User.role == Role.MANAGER,
                                             User.is_active_account.is_(True))
        .order_by(User.id)).all()
    proposer = db.session.get(User, proposer_id) if proposer_id else None
    context = {"submission": submission, "round": submission.round,
               "provider": submission.provider,
               "proposed_by": proposer.full_name if proposer else "A colleague"}
    link = ("fee_reviews.submission", {"round_id": submission.round_id,
                                       "submission_id": submission.id})
    return [Outgoing(to=email, template="fee_review_approval_needed", context=context,
                     links={"link": link})
            for email, user_id in managers if user_id != proposer_id]


# ------------------------------------------------------------------ messages

@bp.post("/<int:submission_id>/messages")
def post_message(submission_id: int):
    submission = _own_submission_or_404(submission_id)
    on = today()
    form = forms.MessageForm()
    if form.validate():
        try:
            fee_review.post_message(submission, current_user, form.body.data, audit_ctx())
            spend_token(form, url_for("resubmission.show", submission_id=submission.id)
                        + "#messages")
        except fee_review.FeeReviewError as exc:
            db.session.rollback()
            submission = _reload(submission_id)
            _add_errors(form, exc.errors or {"body": exc.message}, fallback="body")
        else:
            db.session.commit()
            flash("Your message has been sent to the commissioning team.", "success")
            return redirect(url_for("resubmission.show", submission_id=submission.id)
                            + "#messages", code=303)
    # Show the message's problem on the page it was written on.
    if submission.status in SUBMISSION_EDITABLE:
        if fee_review.can_submit(submission, on):
            proposal = _build_form(submission, _documents(submission.provider_id),
                                   from_request=False)
            return _proposal_page(submission, proposal, fee_review.preview(submission), on, 400,
                                  message_form=form)
        return _deadline_passed(submission, on, 400, message_form=form)
    return _view_page(submission, on, 400, message_form=form)
