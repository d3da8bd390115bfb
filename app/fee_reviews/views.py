"""The commissioner's side of the annual fee review.

Rounds: the list, creating and editing one (commissioning managers and
administrators), its page with the guidance explained, the count of
submissions by status and the invitation job's progress (polled by htmx,
with a Refresh link without JavaScript), opening and closing it after a
confirmation page. Submissions: the review queue (filters, sort, SQL
paging, bulk acceptance of lines within guidance), a submission's page
(decide each line, the negotiation thread, an extension, the four-eyes
approval of an agreement above guidance). The round's report and its
downloads.

Every rule is in app.domain.fee_review (and fee_review_report); views parse,
call it, commit once, and email after the commit. Forms carry the version
of what they change: a colleague's change saved meanwhile is a 409.
"""
import math
from datetime import date

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.access import EVALUATOR_ROLES
from app.domain import exports
from app.domain import fee_review as rules
from app.domain.applications import today
from app.domain.fee_review_report import round_report
from app.domain.compliance import Outgoing
from app.domain.states import (FeeReviewStatus, IllegalTransition, JobStatus, LineDecision,
                               MembershipStatus, Role, SubmissionStatus)
from app.extensions import db
from app.fee_reviews import bp, forms
from app.forms import spend_token
from app.jobs.fee_review import enqueue_invitations, send_emails
from app.models import (Dps, FeeReviewLine, FeeReviewMessage, FeeReviewRound, FeeReviewRoundLot,
                        FeeReviewSubmission, Lot, Membership, User)
from app.web import audit_ctx, pagination, redirect_303, render

# Who runs rounds (create, edit, open, close) and grants extensions.
ROUND_ROLES = (Role.MANAGER, Role.ADMIN)
# Who reviews submissions: decides lines, accepts in bulk, writes to providers.
REVIEW_ROLES = EVALUATOR_ROLES
PER_PAGE = 25
WEEKS_A_YEAR = 52
CONFLICT_MESSAGE = ("This has changed since you opened the page: a colleague may have acted "
                    "on it. Nothing was saved. Check the latest details below and try again.")
INVITATIONS = {"invitation-progress": "fee_reviews/_invitations.html"}
QUEUE = {"queue-results": "fee_reviews/_queue.html"}
FORMATS = {"csv": "text/csv",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _require(*roles: Role) -> None:
    if current_user.role not in roles:
        abort(403)


def _can(*roles: Role) -> bool:
    return current_user.role in roles


def _version_matches(form, obj) -> bool:
    return str(form.version.data or "") == str(obj.version)


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(User.id, User.full_name).where(User.id.in_(ids))).all())


# ------------------------------------------------------------------ loading

def _round_or_404(round_id: int, *, lock: bool = False) -> FeeReviewRound:
    if not 0 < round_id <= 2**31 - 1:
        abort(404)
    stmt = (sa.select(FeeReviewRound).where(FeeReviewRound.id == round_id)
            .options(joinedload(FeeReviewRound.dps),
                     selectinload(FeeReviewRound.lots).joinedload(FeeReviewRoundLot.lot),
                     joinedload(FeeReviewRound.invitation_job)))
    if lock:
        stmt = stmt.with_for_update(of=FeeReviewRound)
    found = db.session.execute(stmt).unique().scalar_one_or_none()
    if found is None:
        abort(404)
    return found


def _submission_or_404(submission_id: int, *, lock: bool = False) -> FeeReviewSubmission:
    """A submission with what its page shows. Invited providers that have not
    submitted are listed in the queue and open here too (read only)."""
    if not 0 < submission_id <= 2**31 - 1:
        abort(404)
    stmt = (sa.select(FeeReviewSubmission).where(FeeReviewSubmission.id == submission_id)
            .options(joinedload(FeeReviewSubmission.provider),
                     joinedload(FeeReviewSubmission.round).joinedload(FeeReviewRound.dps),
                     joinedload(FeeReviewSubmission.evidence_document),
                     selectinload(FeeReviewSubmission.lines).joinedload(FeeReviewLine.lot),
                     selectinload(FeeReviewSubmission.messages)
                     .joinedload(FeeReviewMessage.author)))
    if lock:
        stmt = stmt.with_for_update(of=FeeReviewSubmission)
    found = db.session.execute(stmt).unique().scalar_one_or_none()
    if found is None:
        abort(404)
    return found


def _dps_lots(dps_id: int) -> list[Lot]:
    return db.session.execute(
        sa.select(Lot).where(Lot.dps_id == dps_id).order_by(Lot.number)).scalars().all()


# ------------------------------------------------------------------ rounds

@bp.get("/")
def index():
    rounds = db.session.execute(
        sa.select(FeeReviewRound)
        .options(joinedload(FeeReviewRound.dps),
                 selectinload(FeeReviewRound.lots).joinedload(FeeReviewRoundLot.lot))
        .order_by(FeeReviewRound.opens_on.desc(), FeeReviewRound.id.desc())).scalars().all()
    schemes = db.session.execute(sa.select(Dps).order_by(Dps.opens_on, Dps.id)).scalars().all()
    return render("fee_reviews/index.html", title="Fee reviews", rounds=rounds, schemes=schemes,
                  can_run=_can(*ROUND_ROLES))


def _round_input(form) -> rules.RoundInput:
    model = form.guidance_method.data == "model"
    return rules.RoundInput(
        name=(form.name.data or "").strip(), lot_ids=list(form.lot_ids.data or []),
        opens_on=form.opens_on.data, closes_on=form.closes_on.data,
        effective_on=form.effective_on.data, guidance_method=form.guidance_method.data or "",
        guidance_uplift=None if model else form.guidance_uplift.data,
        staff_cost_weight=form.staff_cost_weight.data if model else None,
        nlw_change=form.nlw_change.data if model else None,
        cpih=form.cpih.data if model else None,
        cap_uplift=form.cap_uplift.data, message=(form.message.data or "").strip())


def _add_errors(form, errors: dict[str, str]) -> None:
    """The domain's messages, on the fields they are about (a field keeps its
    own message if it has one); a message about no field goes on the first."""
    shown = [f for f in form if f.type not in ("CSRFTokenField", "HiddenField", "SubmitField")]
    for name, message in errors.items():
        field = form._fields.get(name) or shown[0]
        if not field.errors:
            field.errors = [*field.errors, message]


def _model_guidance(form):
    """The guidance the model gives for what was typed, or None."""
    if form.guidance_method.data != "model":
        return None
    values = (form.staff_cost_weight.data, form.nlw_change.data, form.cpih.data)
    if any(v is None for v in values):
        return None
    return rules.model_guidance(*values)


def _round_form_page(form, dps, round_=None, status=200):
    return render("fee_reviews/round_form.html", status=status,
                  title="Edit the fee review round" if round_ else "Create a fee review round",
                  form=form, dps=dps, round=round_, computed=_model_guidance(form),
                  fragments={"guidance-calculation": "fee_reviews/_guidance_calculation.html"})


def _check_round_form(form, dps, on) -> bool:
    """Field checks, then the domain's rules; True when the round can be saved."""
    valid = form.validate()
    if form.guidance_method.data in ("direct", "model"):
        data = _round_input(form)
        _add_errors(form, rules.validate_round(dps, data, on))
    return valid and not form.errors


def _calculating() -> bool:
    """htmx asking, as a model figure changes, for the guidance the figures
    give: shown, nothing saved."""
    return request.method == "POST" and "calculate" in request.form


@bp.route("/new", methods=["GET", "POST"])
def new_round():
    _require(*ROUND_ROLES)
    schemes = db.session.execute(sa.select(Dps).order_by(Dps.opens_on, Dps.id)).scalars().all()
    chosen = request.args.get("dps", type=int)
    dps = next((d for d in schemes if d.id == chosen), None) if chosen else (
        schemes[0] if len(schemes) == 1 else None)
    if dps is None:
        if chosen or not schemes:
            abort(404)
        return render("fee_reviews/choose_dps.html", title="Which DPS is the round for?",
                      schemes=schemes)
    lots = _dps_lots(dps.id)
    if request.method == "POST":
        form = forms.NewRoundForm(lots=lots)
    else:
        form = forms.NewRoundForm(lots=lots, data={"guidance_method": "direct",
                                                   "lot_ids": [lot.id for lot in lots]})
    if not form.is_submitted():
        return _round_form_page(form, dps)
    if _calculating():
        return _round_form_page(form, dps)
    if not _check_round_form(form, dps, today()):
        return _round_form_page(form, dps, status=400)
    try:
        round_ = rules.create_round(dps, _round_input(form), current_user, audit_ctx())
        db.session.flush()
    except rules.FeeReviewError as exc:
        db.session.rollback()
        form.name.errors = [*form.name.errors, exc.message]
        return _round_form_page(form, dps, status=400)
    spend_token(form, url_for("fee_reviews.round_page", round_id=round_.id))
    db.session.commit()
    flash(f"{round_.name} is saved. Check it, then open it to invite providers.", "success")
    return redirect_303("fee_reviews.round_page", round_id=round_.id)


def _round_prefill(round_: FeeReviewRound) -> dict:
    return {"version": round_.version, "name": round_.name, "lot_ids": round_.lot_ids,
            "opens_on": round_.opens_on, "closes_on": round_.closes_on,
            "effective_on": round_.effective_on, "guidance_method": round_.guidance_method,
            "guidance_uplift": round_.guidance_uplift if round_.guidance_method == "direct"
            else None,
            "staff_cost_weight": round_.staff_cost_weight, "nlw_change": round_.nlw_change,
            "cpih": round_.cpih, "cap_uplift": round_.cap_uplift, "message": round_.message}


@bp.route("/<int:round_id>/edit", methods=["GET", "POST"])
def edit_round(round_id: int):
    _require(*ROUND_ROLES)
    round_ = _round_or_404(round_id)
    if round_.status is not FeeReviewStatus.DRAFT:
        return _refused_round(round_, "This round is open, so it can no longer be changed.",
                              status=409 if request.method == "POST" else 200)
    lots = _dps_lots(round_.dps_id)
    form = forms.RoundForm(lots=lots) if request.method == "POST" else \
        forms.RoundForm(lots=lots, data=_round_prefill(round_))
    if not form.is_submitted():
        return _round_form_page(form, round_.dps, round_)
    if _calculating():
        return _round_form_page(form, round_.dps, round_)
    if not _version_matches(form, round_):
        return _refused_round(round_, CONFLICT_MESSAGE)
    if not _check_round_form(form, round_.dps, today()):
        return _round_form_page(form, round_.dps, round_, status=400)
    try:
        rules.update_round(round_, _round_input(form), current_user, audit_ctx())
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return _refused_round(_round_or_404(round_id), CONFLICT_MESSAGE)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        db.session.rollback()
        return _refused_round(_round_or_404(round_id), _message(exc))
    flash(f"{round_.name} is saved.", "success")
    return redirect_303("fee_reviews.round_page", round_id=round_.id)


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def _refused_round(round_, message: str, status: int = 409):
    return _round_page(round_, problem=message, status=status)


def _round_page(round_: FeeReviewRound, *, problem: str | None = None, status: int = 200):
    on = today()
    job = round_.invitation_job
    return render("fee_reviews/round.html", fragments=INVITATIONS, status=status,
                  title=round_.name, round=round_, counts=rules.round_counts(round_),
                  job=job, running=job is not None and job.status in (JobStatus.QUEUED,
                                                                     JobStatus.RUNNING),
                  problem=problem, on=on, can_run=_can(*ROUND_ROLES),
                  can_close=(round_.status is FeeReviewStatus.OPEN and on > round_.closes_on),
                  names=_names([round_.created_by_id, round_.opened_by_id]),
                  statuses=list(SubmissionStatus))


@bp.get("/<int:round_id>")
def round_page(round_id: int):
    return _round_page(_round_or_404(round_id))


def _providers_to_invite(round_: FeeReviewRound) -> int:
    """How many providers opening the round invites: an active place on one of its lots."""
    return db.session.execute(
        sa.select(sa.func.count(sa.distinct(Membership.provider_id)))
        .where(Membership.lot_id.in_(round_.lot_ids or [-1]),
               Membership.status == MembershipStatus.ACTIVE)).scalar_one()


def _act_on_round(round_: FeeReviewRound, form, act):
    """Run one step of a round's lifecycle (`act`) once its confirmation form
    checks out, and commit: (what it returned, None), or (None, the page that
    refuses it) with nothing kept."""
    round_id = round_.id
    if not form.validate() or not _version_matches(form, round_):
        return None, _refused_round(round_, CONFLICT_MESSAGE)
    try:
        result = act()
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return None, _refused_round(_round_or_404(round_id), CONFLICT_MESSAGE)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        db.session.rollback()
        return None, _refused_round(_round_or_404(round_id), _message(exc))
    return result, None


@bp.route("/<int:round_id>/open", methods=["GET", "POST"])
def open_round(round_id: int):
    _require(*ROUND_ROLES)
    round_ = _round_or_404(round_id, lock=request.method == "POST")
    form = forms.ConfirmForm(data={"version": round_.version}) if request.method == "GET" \
        else forms.ConfirmForm()
    if round_.status is not FeeReviewStatus.DRAFT:
        if request.method == "POST":
            return _refused_round(round_, "This round is already open.")
        return redirect_303("fee_reviews.round_page", round_id=round_.id)
    on = today()
    if request.method == "GET":
        return render("fee_reviews/confirm_open.html", title=f"Open {round_.name}",
                      round=round_, form=form, invited=_providers_to_invite(round_), on=on)
    job, refused = _act_on_round(
        round_, form, lambda: rules.open_round(round_, current_user, audit_ctx(), on))
    if refused is not None:
        return refused
    # The job row is committed: a worker can find it.
    enqueue_invitations(job)
    flash(f"{round_.name} is open. Invitations are being sent: you can follow them below.",
          "success")
    return redirect_303("fee_reviews.round_page", round_id=round_id)


@bp.post("/<int:round_id>/invitations")
def resend_invitations(round_id: int):
    """After a failed invitation job: invite the providers it did not reach."""
    _require(*ROUND_ROLES)
    round_ = _round_or_404(round_id, lock=True)
    form = forms.ConfirmForm()
    job, refused = _act_on_round(
        round_, form, lambda: rules.rerun_invitations(round_, current_user, audit_ctx(), today()))
    if refused is not None:
        return refused
    enqueue_invitations(job)
    flash("The remaining invitations are being sent.", "success")
    return redirect_303("fee_reviews.round_page", round_id=round_id)


@bp.route("/<int:round_id>/close", methods=["GET", "POST"])
def close_round(round_id: int):
    _require(*ROUND_ROLES)
    round_ = _round_or_404(round_id, lock=request.method == "POST")
    form = forms.ConfirmForm(data={"version": round_.version}) if request.method == "GET" \
        else forms.ConfirmForm()
    if round_.status is not FeeReviewStatus.OPEN:
        if request.method == "POST":
            return _refused_round(round_, f"This round is {round_.status.label.lower()}, so it "
                                          "cannot be closed.")
        return redirect_303("fee_reviews.round_page", round_id=round_.id)
    on = today()
    if request.method == "GET":
        return render("fee_reviews/confirm_close.html", title=f"Close {round_.name}",
                      round=round_, form=form, counts=rules.round_counts(round_), on=on,
                      statuses=SubmissionStatus)
    marked, refused = _act_on_round(
        round_, form, lambda: rules.close_round(round_, current_user, audit_ctx(), on))
    if refused is not None:
        return refused
    flash(f"{round_.name} is closed. {marked} provider{'' if marked == 1 else 's'} that did "
          f"not submit {'is' if marked == 1 else 'are'} recorded as no response and keep "
          "their prices.", "success")
    return redirect_303("fee_reviews.round_page", round_id=round_id)


# ------------------------------------------------------------------ the queue

def _queue_params() -> dict:
    return {k: v for k, v in request.args.items() if k != "page"}


def _queue_page(round_: FeeReviewRound, *, status: int = 200, bulk_form=None,
                selected: set[int] = frozenset(), problem: str | None = None):
    lots = [rl.lot for rl in round_.lots]
    filters = forms.QueueFilterForm(request.args, lots=lots)
    valid = filters.validate()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    chosen = filters.filters()
    rows, total = rules.review_queue(round_, page=page, per_page=PER_PAGE, **chosen)
    counts = rules.round_counts(round_)
    pages = math.ceil(total / PER_PAGE)
    params = _queue_params()
    return render("fee_reviews/queue.html", fragments=QUEUE,
                  status=status if valid else 400,
                  title=f"Review queue: {round_.name}", round=round_, filters=filters,
                  rows=rows, total=total, first=(page - 1) * PER_PAGE + 1,
                  last=min(page * PER_PAGE, total),
                  pagination=pagination("fee_reviews.queue", page, pages, round_id=round_.id,
                                        **params),
                  # The status filter starts on "Submitted": an empty page
                  # then says no submission matches, not that nobody was invited.
                  filtered=any(v is not None for k, v in chosen.items() if k != "sort"),
                  invited=sum(counts.values()), counts=counts,
                  bulk_form=bulk_form or forms.BulkAcceptForm(formdata=None),
                  form=bulk_form if bulk_form is not None and bulk_form.errors else None,
                  selected=selected, problem=problem, can_review=_can(*REVIEW_ROLES),
                  uplift=rules.uplift)


@bp.get("/<int:round_id>/queue")
def queue(round_id: int):
    return _queue_page(_round_or_404(round_id))


def _selected_ids() -> set[int]:
    ids = set()
    for value in request.form.getlist("submission_ids"):
        try:
            ids.add(int(value))
        except ValueError:
            abort(400)
    return ids


def _submitted_ids(round_: FeeReviewRound, ids: set[int] | None) -> list[int]:
    """The chosen submissions that are with commissioners (SUBMITTED), the
    only ones bulk acceptance touches."""
    stmt = sa.select(FeeReviewSubmission.id).where(
        FeeReviewSubmission.round_id == round_.id,
        FeeReviewSubmission.status == SubmissionStatus.SUBMITTED)
    if ids is not None:
        stmt = stmt.where(FeeReviewSubmission.id.in_(ids or [-1]))
    return list(db.session.execute(stmt.order_by(FeeReviewSubmission.id)).scalars())


@bp.post("/<int:round_id>/bulk-accept")
def bulk_accept(round_id: int):
    _require(*REVIEW_ROLES)
    round_ = _round_or_404(round_id)
    form = forms.BulkAcceptForm()
    selected = _selected_ids()
    if not form.validate():
        return _queue_page(round_, status=400, bulk_form=form, selected=selected)
    every = form.scope.data == forms.ALL_SUBMITTED
    if not every and not selected:
        form.scope.errors = ["Select at least one submission, or choose every submitted "
                             "submission in this round"]
        return _queue_page(round_, status=400, bulk_form=form, selected=selected)
    chosen = _submitted_ids(round_, None if every else selected)
    if form.confirmed.data != "yes":
        # First step: say what will happen and change nothing.
        return render("fee_reviews/confirm_bulk.html", title="Accept lines within guidance",
                      round=round_, form=form, every=every, selected=sorted(selected),
                      picked=len(selected), submitted=len(chosen))
    try:
        result = rules.bulk_accept_within_guidance(
            round_, current_user, audit_ctx(),
            submission_ids=None if every else sorted(selected))
        db.session.flush()
        # Still in the session from the bulk acceptance: no query per submission.
        settled = [db.session.get(FeeReviewSubmission, i) for i in chosen]
        outbox = _emails_for(s for s in settled if s is not None)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return _queue_page(_round_or_404(round_id), status=409, problem=CONFLICT_MESSAGE)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        db.session.rollback()
        return _queue_page(_round_or_404(round_id), status=409, problem=_message(exc))
    send_emails(outbox)
    message = (f"{result.lines} line{_s(result.lines)} within guidance accepted in "
               f"{result.submissions} submission{_s(result.submissions)}. "
               f"{result.agreed} submission{_s(result.agreed)} agreed (the provider"
               f"{_s(result.agreed)} {'has' if result.agreed == 1 else 'have'} been told).")
    waiting = result.awaiting_approval
    if waiting:
        message += (f" {waiting} now await{'s' if waiting == 1 else ''} a second manager's "
                    "approval, because another of its lines is above guidance.")
    if not result.lines:
        message = ("No lines were accepted: none of the chosen submissions had a line still "
                   "to decide at or below the guidance.")
    flash(message, "success")
    return redirect_303("fee_reviews.queue", round_id=round_id)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# ------------------------------------------------------------------ emails

def _manager_addresses(exclude_id: int | None) -> list[str]:
    return db.session.execute(
        sa.select(User.email).where(User.role == Role.MANAGER, User.is_active_account.is_(True),
                                    User.id != (exclude_id or -1)).order_by(User.id)
    ).scalars().all()


def _approval_emails(submission: FeeReviewSubmission) -> list[Outgoing]:
    """Ask the other commissioning managers for the second approval."""
    proposer = _names([submission.agreement_proposed_by_id]).get(
        submission.agreement_proposed_by_id, "A colleague")
    context = {"submission": submission, "round": submission.round,
               "provider": submission.provider, "proposed_by": proposer}
    return [Outgoing(to=to, template="fee_review_approval_needed", context=context,
                     links={"link": _staff_link(submission)})
            for to in _manager_addresses(submission.agreement_proposed_by_id)]


def _staff_link(submission: FeeReviewSubmission) -> tuple[str, dict]:
    return ("fee_reviews.submission", {"round_id": submission.round_id,
                                       "submission_id": submission.id})


def _emails_for(submissions) -> list[Outgoing]:
    """What to send once a review action is committed, by the status it left."""
    outbox: list[Outgoing] = []
    for submission in submissions:
        if submission.status is SubmissionStatus.AWAITING_APPROVAL:
            outbox += _approval_emails(submission)
        else:
            outbox += rules.emails_after(submission)
    return outbox


# ------------------------------------------------------------------ a submission

def _submission_in_round(round_id: int, submission_id: int, *, lock: bool = False):
    submission = _submission_or_404(submission_id, lock=lock)
    if submission.round_id != round_id:
        abort(404)
    return submission


def _decidable(submission: FeeReviewSubmission) -> list[FeeReviewLine]:
    """Lines a reviewer may decide now: while the proposal is with the
    commissioners, every line that asks for a change (a line asking none
    was accepted on submission; a counter-offer the provider accepted is
    settled)."""
    if submission.status is not SubmissionStatus.SUBMITTED:
        return []
    return [line for line in submission.lines if line.proposed_amount is not None
            and line.decision is not LineDecision.COUNTER_ACCEPTED]


def _decision_prefill(submission: FeeReviewSubmission) -> dict:
    data = {"version": submission.version}
    for line in _decidable(submission):
        if line.decision is not LineDecision.PENDING:
            data[f"line-{line.id}-decision"] = line.decision.value
            data[f"line-{line.id}-note"] = line.decision_note
        if line.counter_amount is not None:
            data[f"line-{line.id}-counter"] = line.counter_amount
    return data


def _lot_groups(submission: FeeReviewSubmission, preview) -> list[dict]:
    """The lines by lot, each with its preview (uplift, above guidance)."""
    by_line = {p.line.id: p for p in preview.lines}
    groups: list[dict] = []
    for line in submission.lines:
        if not groups or groups[-1]["lot"].id != line.lot_id:
            groups.append({"lot": line.lot, "lines": []})
        groups[-1]["lines"].append(by_line[line.id])
    return groups


def _submission_page(submission: FeeReviewSubmission, *, status: int = 200, decision_form=None,
                     message_form=None, extension_form=None, approval_form=None,
                     problem: str | None = None, failed=None):
    """The review page. `failed` is the form whose errors the summary lists."""
    on = today()
    preview = rules.preview(submission)
    decidable = _decidable(submission)
    can_review = _can(*REVIEW_ROLES)
    if decision_form is None and decidable and can_review:
        decision_form = forms.decision_form(decidable, formdata=None,
                                             data=_decision_prefill(submission))
    can_extend = (_can(*ROUND_ROLES) and submission.round.status is not FeeReviewStatus.DRAFT
                  and submission.status in (SubmissionStatus.INVITED, SubmissionStatus.DRAFT,
                                            SubmissionStatus.NO_RESPONSE))
    if extension_form is None and can_extend:
        extension_form = forms.ExtensionForm(formdata=None, data={"version": submission.version})
    awaiting = submission.status is SubmissionStatus.AWAITING_APPROVAL
    can_approve = awaiting and rules.can_approve(submission, current_user)
    if approval_form is None and can_approve:
        approval_form = forms.ApprovalForm(formdata=None, data={"version": submission.version})
    names = _names([submission.agreement_proposed_by_id, submission.agreed_by_id,
                    submission.submitted_by_id] + [line.decided_by_id for line in submission.lines])
    return render(
        "fee_reviews/submission.html", status=status,
        title=f"{submission.provider.display_name}: {submission.round.name}",
        submission=submission, round=submission.round, provider=submission.provider,
        preview=preview, groups=_lot_groups(submission, preview),
        decidable={line.id for line in decidable}, decision_form=decision_form,
        message_form=message_form or (forms.MessageForm(formdata=None) if can_review
                                      or _can(Role.ADMIN) else None),
        extension_form=extension_form if can_extend else None,
        approval_form=approval_form if can_approve else None,
        awaiting=awaiting, proposer=names.get(submission.agreement_proposed_by_id),
        is_proposer=submission.agreement_proposed_by_id == current_user.id,
        is_manager=current_user.role is Role.MANAGER, names=names,
        deadline=rules.deadline(submission), on=on, problem=problem,
        form=failed if failed is not None and failed.errors else None,
        guidance=submission.round.guidance_uplift, cap=submission.round.cap_uplift,
        uplift=rules.uplift)


def _reload(round_id: int, submission_id: int) -> FeeReviewSubmission:
    db.session.rollback()
    return _submission_in_round(round_id, submission_id)


def _conflict(round_id: int, submission_id: int, message: str = CONFLICT_MESSAGE,
              status: int = 409):
    """Nothing was saved: the latest state of the submission, and why."""
    return _submission_page(_reload(round_id, submission_id), status=status, problem=message)


@bp.get("/<int:round_id>/submissions/<int:submission_id>")
def submission(round_id: int, submission_id: int):
    return _submission_page(_submission_in_round(round_id, submission_id))


def _decisions(form, lines, submission) -> dict[int, rules.DecisionInput]:
    """What the reviewer changed: a line whose decision, counter-offer and note
    are as saved is left alone (so who decided it stays on record)."""
    decisions = {}
    for line in lines:
        choice = form[f"line-{line.id}-decision"].data
        if not choice:
            continue
        decision = LineDecision(choice)
        counter = form[f"line-{line.id}-counter"].data if decision is LineDecision.COUNTERED \
            else None
        note = (form[f"line-{line.id}-note"].data or "").strip()
        if (decision is line.decision and note == (line.decision_note or "")
                and counter == line.counter_amount):
            continue
        decisions[line.id] = rules.DecisionInput(decision=decision, counter_amount=counter,
                                                 note=note)
    return decisions


@bp.post("/<int:round_id>/submissions/<int:submission_id>")
def decide(round_id: int, submission_id: int):
    _require(*REVIEW_ROLES)
    submission = _submission_in_round(round_id, submission_id, lock=True)
    lines = _decidable(submission)
    form = forms.decision_form(lines, formdata=request.form)
    if not _version_matches(form, submission) or not lines:
        return _conflict(round_id, submission_id)
    valid = form.validate()
    decisions = _decisions(form, lines, submission) if valid else {}
    if valid:
        _add_errors(form, rules.validate_decisions(submission, decisions))
        if not decisions and not form.errors:
            form[f"line-{lines[0].id}-decision"].errors = [
                "Select a decision for at least one line, or change a decision already made"]
    if form.errors:
        return _submission_page(submission, status=400, decision_form=form, failed=form)
    try:
        new_status = rules.decide_lines(submission, decisions, current_user, audit_ctx())
        db.session.flush()
        outbox = _emails_for([submission])
        db.session.commit()
    except StaleDataError:
        return _conflict(round_id, submission_id)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        errors = getattr(exc, "errors", {})
        db.session.rollback()
        if errors:
            return _conflict(round_id, submission_id, _message(exc), status=400)
        return _conflict(round_id, submission_id, _message(exc))
    send_emails(outbox)
    name = submission.provider.display_name
    flash({SubmissionStatus.NEGOTIATING: f"Your decisions are saved. {name} has been sent the "
                                         "counter-offer.",
           SubmissionStatus.AGREED: f"The prices are agreed. {name} has been told; the new "
                                    f"prices apply from {_day(submission.prices_from)}.",
           SubmissionStatus.AWAITING_APPROVAL: "Every line is decided. An agreed price is "
                                               "above guidance, so a different commissioning "
                                               "manager must approve the agreement."}
          .get(new_status, "Your decisions are saved."), "success")
    return redirect_303("fee_reviews.submission", round_id=round_id, submission_id=submission_id)


def _day(value: date | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""


@bp.post("/<int:round_id>/submissions/<int:submission_id>/messages")
def post_message(round_id: int, submission_id: int):
    _require(*REVIEW_ROLES, Role.ADMIN)
    submission = _submission_in_round(round_id, submission_id)
    form = forms.MessageForm()
    if not form.validate():
        return _submission_page(submission, status=400, message_form=form, failed=form)
    try:
        rules.post_message(submission, current_user, form.body.data, audit_ctx())
        spend_token(form, url_for("fee_reviews.submission", round_id=round_id,
                            submission_id=submission_id) + "#messages")
        recipients = rules.provider_recipients(submission.provider_id)
        context = {"submission": submission, "round": submission.round,
                   "provider": submission.provider, "body": form.body.data.strip(),
                   "author": current_user}
        db.session.commit()
    except rules.FeeReviewError as exc:
        db.session.rollback()
        form.body.errors = [exc.errors.get("body", exc.message)]
        return _submission_page(_submission_in_round(round_id, submission_id), status=400,
                                message_form=form, failed=form)
    send_emails([Outgoing(to=to, template="fee_review_message", context=context,
                          links={"link": ("resubmission.show",
                                          {"submission_id": submission_id})})
                 for to in recipients])
    flash(f"Your message has been sent to {submission.provider.display_name}.", "success")
    return redirect(url_for("fee_reviews.submission", round_id=round_id,
                            submission_id=submission_id) + "#messages", code=303)


@bp.post("/<int:round_id>/submissions/<int:submission_id>/extension")
def extend(round_id: int, submission_id: int):
    _require(*ROUND_ROLES)
    submission = _submission_in_round(round_id, submission_id, lock=True)
    form = forms.ExtensionForm()
    if not _version_matches(form, submission):
        return _conflict(round_id, submission_id)
    if not form.validate():
        return _submission_page(submission, status=400, extension_form=form, failed=form)
    try:
        rules.grant_extension(submission, form.until.data, form.reason.data, current_user,
                              audit_ctx(), today())
        db.session.flush()
        outbox = rules.extension_emails(submission)
        db.session.commit()
    except StaleDataError:
        return _conflict(round_id, submission_id)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        errors = getattr(exc, "errors", {})
        db.session.rollback()
        if not errors:
            return _conflict(round_id, submission_id, _message(exc))
        submission = _submission_in_round(round_id, submission_id)
        _add_errors(form, errors)
        return _submission_page(submission, status=400, extension_form=form, failed=form)
    send_emails(outbox)
    flash(f"{submission.provider.display_name} can submit until "
          f"{_day(submission.extended_until)}. They have been told.", "success")
    return redirect_303("fee_reviews.submission", round_id=round_id, submission_id=submission_id)


@bp.post("/<int:round_id>/submissions/<int:submission_id>/approval")
def approval(round_id: int, submission_id: int):
    submission = _submission_in_round(round_id, submission_id, lock=True)
    form = forms.ApprovalForm()
    if submission.status is not SubmissionStatus.AWAITING_APPROVAL or \
            not _version_matches(form, submission):
        return _conflict(round_id, submission_id)
    # The four-eyes rule first, whatever else was posted.
    if not rules.can_approve(submission, current_user):
        message = (rules.FOUR_EYES_MESSAGE if submission.agreement_proposed_by_id ==
                   current_user.id else "Only a commissioning manager can approve or return an "
                                        "agreement above guidance.")
        return _submission_page(submission, status=403, problem=message)
    if not form.validate():
        return _submission_page(submission, status=400, approval_form=form, failed=form)
    approving = form.decision.data == forms.APPROVE
    reason = (form.reason.data or "").strip()
    try:
        if approving:
            rules.approve_agreement(submission, current_user, audit_ctx(), today())
            db.session.flush()
            outbox = rules.agreed_emails(submission)
        else:
            rules.return_agreement(submission, reason, current_user, audit_ctx())
            db.session.flush()
            outbox = rules.returned_emails(submission, reason, current_user,
                                           _staff_link(submission))
        db.session.commit()
    except StaleDataError:
        return _conflict(round_id, submission_id)
    except (rules.FeeReviewError, IllegalTransition) as exc:
        return _conflict(round_id, submission_id, _message(exc))
    send_emails(outbox)
    if approving:
        flash(f"The agreement is approved. {submission.provider.display_name} has been told; "
              f"the new prices apply from {_day(submission.prices_from)}.", "success")
    else:
        flash("The agreement is returned. The decisions can now be looked at again; the "
              "colleague who proposed it has been told why.", "success")
    return redirect_303("fee_reviews.submission", round_id=round_id, submission_id=submission_id)


# ------------------------------------------------------------------ report

def _agreed_weekly_lines(round_: FeeReviewRound) -> dict[int, int]:
    """Per lot: weekly-fee lines of agreed submissions (the default volume)."""
    return dict(db.session.execute(
        sa.select(FeeReviewLine.lot_id, sa.func.count(FeeReviewLine.id))
        .join(FeeReviewSubmission, FeeReviewSubmission.id == FeeReviewLine.submission_id)
        .where(FeeReviewSubmission.round_id == round_.id,
               FeeReviewSubmission.status == SubmissionStatus.AGREED,
               FeeReviewLine.placement_type_id.is_not(None))
        .group_by(FeeReviewLine.lot_id)).all())


@bp.get("/<int:round_id>/report")
def report(round_id: int):
    round_ = _round_or_404(round_id)
    lots = [rl.lot for rl in round_.lots]
    form = forms.report_form(lots, request.args)
    valid = form.validate()
    lines = _agreed_weekly_lines(round_)
    defaults = {lot.id: WEEKS_A_YEAR * lines.get(lot.id, 0) for lot in lots}
    weeks = {}
    for lot in lots:
        field = form[f"weeks-{lot.id}"]
        entered = field.data if not field.errors else None
        weeks[lot.id] = entered if entered is not None else defaults[lot.id]
        if field.data is None and not field.errors:
            field.data = defaults[lot.id]
    rows, overall = round_report(round_, weeks)
    return render("fee_reviews/report.html", status=200 if valid else 400,
                  title=f"Report: {round_.name}", round=round_, rows=rows, overall=overall,
                  form=form, weeks=weeks, defaults=defaults, agreed_lines=lines,
                  weeks_a_year=WEEKS_A_YEAR)


@bp.get("/<int:round_id>/submissions.<fmt>")
def download(round_id: int, fmt: str):
    if fmt not in FORMATS:
        abort(404)
    round_ = _round_or_404(round_id)
    rows = exports.round_rows(round_.id)
    stem = f"fee-review-{round_.id}-submissions-{today().isoformat()}"
    if fmt == "csv":
        body = stream_with_context(exports.csv_lines(exports.ROUND_HEADER, rows))
    else:
        body = stream_with_context(exports.xlsx_chunks(exports.ROUND_HEADER, rows,
                                                       "Submissions and decisions"))
    return Response(body, mimetype=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"',
                             "Cache-Control": "private, no-store"})
