"""Compliance monitoring for commissioners: the dashboard and the lists
behind it, verifying renewed insurance, and the background jobs (the evidence
expiry check and the Ofsted import) with their progress and reports."""
import csv
import io
import math

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from app.access import EVALUATOR_ROLES
from app.compliance import bp
from app.compliance.forms import OfstedImportForm, RunExpiryCheckForm, VerifyForm
from app.domain import compliance as rules
from app.domain import documents
from app.domain import ofsted_import as ofsted
from app.domain.applications import today
from app.domain.states import ComplianceStatus, JobStatus, MembershipStatus
from app.extensions import db
from app.forms import spend_token
from app.jobs import compliance as jobs
from app.models import Document, JobRun, Lot, Membership, Provider
from app.storage import UploadTooLarge, get_storage
from app.web import audit_ctx, pagination, redirect_303, render

PER_PAGE = 50
RECENT_JOBS = 20
# How many unknown URNs and malformed rows the job page lists; the CSV has all.
REPORT_ROWS_SHOWN = 100
LISTS = {
    "active": "Active memberships",
    "suspended": "Suspended memberships",
    "non-compliant": "Non-compliant memberships",
    "expiring": f"Insurance expiring within {rules.EXPIRING_WITHIN_DAYS} days",
    "renewals": "Renewed insurance awaiting check",
}
CSV_TYPES = ("text/plain", "text/csv", "application/csv")
JOB_FRAGMENTS = {"job-status": "compliance/_job_status.html"}


# -------------------------------------------------------------- the dashboard

@bp.get("/")
def dashboard():
    on = today()
    counts = rules.membership_counts()
    rows = [
        (LISTS["active"], counts["active"], url_for("compliance.list", kind="active")),
        (LISTS["suspended"], counts["suspended"], url_for("compliance.list", kind="suspended")),
        (LISTS["non-compliant"], counts["non_compliant"],
         url_for("compliance.list", kind="non-compliant")),
        (LISTS["expiring"], len(rules.expiring_documents(on)),
         url_for("compliance.list", kind="expiring")),
        (LISTS["renewals"], len(rules.renewals_awaiting_check()),
         url_for("compliance.list", kind="renewals")),
        ("Open concerns", rules.open_concern_count(), url_for("concerns.index", status="open")),
    ]
    last_check = db.session.execute(
        sa.select(JobRun).where(JobRun.kind == jobs.EXPIRY_CHECK)
        .order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(1)).scalar_one_or_none()
    return render("compliance/dashboard.html", title="Compliance", rows=rows,
                  last_check=last_check, on=on)


# ---------------------------------------------------------------- the lists

def _page_number() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _memberships(kind: str, page: int) -> tuple[list[Membership], int]:
    if kind == "non-compliant":
        where = [Membership.status.in_(rules.CURRENT_STATUSES),
                 Membership.compliance == ComplianceStatus.NON_COMPLIANT]
    else:
        where = [Membership.status == MembershipStatus(kind)]
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(Membership).where(*where)).scalar_one()
    rows = db.session.execute(
        sa.select(Membership).where(*where)
        .join(Provider, Provider.id == Membership.provider_id)
        .join(Lot, Lot.id == Membership.lot_id)
        .options(joinedload(Membership.provider), joinedload(Membership.lot))
        .order_by(Provider.legal_name, Provider.id, Lot.number)
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE)).scalars().all()
    return rows, total


@bp.get("/list/<kind>", endpoint="list")
def list_page(kind: str):
    if kind not in LISTS:
        abort(404)
    return _list_page(kind)


def _list_page(kind: str, status: int = 200, message: str | None = None):
    page = _page_number()
    on = today()
    memberships, docs = [], []
    if kind in ("active", "suspended", "non-compliant"):
        memberships, total = _memberships(kind, page)
    else:
        found = (rules.expiring_documents(on) if kind == "expiring"
                 else rules.renewals_awaiting_check())
        total = len(found)
        docs = found[(page - 1) * PER_PAGE:page * PER_PAGE]
    return render("compliance/list.html", status=status, title=LISTS[kind], kind=kind,
                  memberships=memberships, documents=docs, total=total, on=on,
                  pagination=pagination("compliance.list", page, math.ceil(total / PER_PAGE),
                                        kind=kind),
                  message=message,
                  can_verify=current_user.role in EVALUATOR_ROLES)


@bp.post("/documents/<int:document_id>/verify")
def verify_document(document_id: int):
    if current_user.role not in EVALUATOR_ROLES:
        abort(403)  # administrators look but do not check evidence
    if not 0 < document_id <= 2**31 - 1:
        abort(404)
    document = db.session.get(Document, document_id) or abort(404)
    if not VerifyForm().validate():
        abort(400)
    ctx = audit_ctx()
    outbox: list = []
    try:
        rules.verify_renewal(ctx, document, current_user.id)
        report = rules.recheck_provider(ctx, document.provider_id, today(), outbox=outbox)
        db.session.commit()
    except rules.ComplianceError as exc:
        db.session.rollback()
        return _list_page("renewals", status=409, message=str(exc))
    jobs.send_outgoing(outbox)
    name = document.provider.display_name
    restored = [r["lot"] for r in report["restored"]]
    message = f"{document.kind.label} of {name} verified."
    if restored:
        message += f" Compliant again: {', '.join(restored)}."
    flash(message, "success")
    return redirect_303("compliance.list", kind="renewals")


# ------------------------------------------------------------------ the jobs

def _jobs_page(status: int = 200, import_form: OfstedImportForm | None = None):
    recent = db.session.execute(
        sa.select(JobRun).options(joinedload(JobRun.started_by))
        .order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(RECENT_JOBS)).scalars().all()
    return render("compliance/jobs.html", status=status, title="Compliance jobs", jobs=recent,
                  kind_labels=jobs.KIND_LABELS,
                  form=import_form or OfstedImportForm(formdata=None),
                  expiry_form=RunExpiryCheckForm(formdata=None),
                  max_size=documents.size_limit_text(current_app.config["MAX_UPLOAD_BYTES"]))


@bp.get("/jobs", endpoint="jobs")
def jobs_page():
    return _jobs_page()


@bp.post("/jobs/expiry-check")
def start_expiry_check():
    form = RunExpiryCheckForm()
    if not form.validate():
        abort(400)
    job = jobs.new_expiry_check(today(), current_user.id)
    db.session.flush()
    spend_token(form, url_for("compliance.job", job_id=job.id))
    db.session.commit()
    jobs.enqueue_job(job)
    return redirect_303("compliance.job", job_id=job.id)


@bp.post("/jobs/ofsted-import")
def start_ofsted_import():
    form = OfstedImportForm()
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    # Validate first: it resets each field's errors.
    valid = form.validate()
    filename = _check_csv(form) if valid else None
    if filename is None:
        return _jobs_page(400, form)
    try:
        job = jobs.new_ofsted_import(form.file.data.stream, filename, current_user.id, max_bytes)
    except UploadTooLarge:
        form.file.errors.append(documents.too_large_message(max_bytes))
        return _jobs_page(400, form)
    try:
        db.session.flush()
        spend_token(form, url_for("compliance.job", job_id=job.id))
        db.session.commit()
    except Exception:  # a repeat (AlreadySubmitted) too: keep no second copy of the file
        db.session.rollback()
        get_storage().delete(job.input_key)
        raise
    jobs.enqueue_job(job)
    return redirect_303("compliance.job", job_id=job.id)


def _check_csv(form: OfstedImportForm) -> str | None:
    """The file's clean name if it looks like Ofsted's CSV, judged by its
    first bytes; otherwise None with the error on the field."""
    upload = form.file.data
    if not upload or not upload.filename:
        form.file.errors = ["Select a CSV file"]
        return None
    name = documents.sanitise_filename(upload.filename)
    if documents.extension_of(name) != "csv":
        form.file.errors = ["The selected file must be a CSV file"]
        return None
    upload.stream.seek(0)
    sample = upload.stream.read(documents.HEADER_BYTES)
    upload.stream.seek(0)
    if sample and documents.sniff(sample) not in CSV_TYPES:
        form.file.errors = ["The selected file must be a CSV file"]
        return None
    try:
        ofsted.check_header(sample)
    except ofsted.OfstedFileError as exc:
        form.file.errors = [str(exc)]
        return None
    return name


def _job_or_404(job_id: int) -> JobRun:
    if not 0 < job_id <= 2**31 - 1:
        abort(404)
    return db.session.get(JobRun, job_id) or abort(404)


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    run = _job_or_404(job_id)
    title = jobs.KIND_LABELS.get(run.kind, run.kind)
    if run.input_name:
        title += f": {run.input_name}"
    return render("compliance/job.html", fragments=JOB_FRAGMENTS, title=title, job=run,
                  running=run.status in (JobStatus.QUEUED, JobStatus.RUNNING),
                  shown=REPORT_ROWS_SHOWN)


@bp.get("/jobs/<int:job_id>/problems.csv")
def job_problems(job_id: int):
    run = _job_or_404(job_id)
    if run.kind != jobs.OFSTED_IMPORT or run.report is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Row", "URN", "Problem", "Detail"])
    for row in ofsted.problem_rows(run.report):
        writer.writerow([row["row"], _cell(row["urn"]), row["problem"], _cell(row["detail"])])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ofsted-import-{run.id}-problems.csv"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _cell(value: str) -> str:
    """Text from an uploaded file, made inert for spreadsheets (no formulas)."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
