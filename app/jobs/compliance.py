"""Compliance monitoring jobs: the evidence expiry check and the Ofsted import.

A JobRun row is created and committed first, then its id is enqueued (never
the other way round: a worker must find the row). The job records its
progress as it goes, committing after each batch so the portal can show it,
and sends the emails of a batch only once that batch is committed.
"""
import logging
from datetime import date
from typing import BinaryIO, Callable

from flask import current_app, has_request_context, url_for

from app.domain import audit
from app.domain.compliance import Outgoing, run_expiry_check
from app.domain.ofsted_import import OfstedFileError, run_ofsted_import, text_lines
from app.domain.states import JobStatus
from app.email import send_emails
from app.extensions import db
from app.jobs import enqueue, with_app_context
from app.models import JobRun, User, utcnow
from app.storage import get_storage, new_key

log = logging.getLogger(__name__)

EXPIRY_CHECK = "expiry_check"
OFSTED_IMPORT = "ofsted_import"
KIND_LABELS = {EXPIRY_CHECK: "Evidence expiry check", OFSTED_IMPORT: "Ofsted import"}
FUNCTIONS = {EXPIRY_CHECK: "app.jobs.compliance.run_expiry_check_job",
             OFSTED_IMPORT: "app.jobs.compliance.run_ofsted_import_job"}
# Generous: a national Ofsted file has a few thousand rows.
JOB_TIMEOUT_SECONDS = 3600


# -------------------------------------------------------------- starting one

def new_expiry_check(on: date, started_by_id: int | None) -> JobRun:
    """Add (not commit) a queued expiry check for `on`."""
    job = JobRun(kind=EXPIRY_CHECK, status=JobStatus.QUEUED, run_date=on,
                 started_by_id=started_by_id)
    db.session.add(job)
    return job


def new_ofsted_import(stream: BinaryIO, filename: str, started_by_id: int | None,
                      max_bytes: int) -> JobRun:
    """Store the uploaded file where a worker can read it and add (not commit)
    a queued import of it. Raises app.storage.UploadTooLarge; then nothing is
    stored. The caller deletes `job.input_key` if its commit fails."""
    stored = get_storage().save(new_key("imports"), stream, max_bytes)
    job = JobRun(kind=OFSTED_IMPORT, status=JobStatus.QUEUED, input_key=stored.key,
                 input_name=filename, started_by_id=started_by_id)
    db.session.add(job)
    return job


def enqueue_job(job: JobRun) -> None:
    """Call after the commit that saved `job`. Without REDIS_URL the job runs
    here and now; a queue that cannot be reached marks the job failed."""
    job_id, kind = job.id, job.kind
    try:
        enqueue(FUNCTIONS[kind], job_id, job_timeout=JOB_TIMEOUT_SECONDS)
    except Exception:
        log.exception("could not queue job run %s", job_id)
        db.session.rollback()
        failed = db.session.get(JobRun, job_id)
        failed.status = JobStatus.FAILED
        failed.error = "The job could not be queued. Try again in a few minutes."
        failed.finished_at = utcnow()
        db.session.commit()


def run_now(job: JobRun) -> JobRun:
    """Run a committed job in this process (the command line), whatever the queue."""
    job_id = job.id
    try:
        FUNCTION_OBJECTS[job.kind](job_id)
    except Exception:
        # Already recorded on the JobRun (failed, with the error) for the caller to report.
        log.exception("job run %s failed", job_id)
    db.session.expire_all()
    return db.session.get(JobRun, job_id)


# ---------------------------------------------------------------- the jobs

@with_app_context
def run_expiry_check_job(job_run_id: int) -> None:
    def work(job, ctx, progress, outbox):
        return run_expiry_check(ctx, job.run_date, progress=progress, outbox=outbox)
    _run(job_run_id, work)


@with_app_context
def run_ofsted_import_job(job_run_id: int) -> None:
    def work(job, ctx, progress, outbox):
        storage, key = get_storage(), job.input_key
        return run_ofsted_import(ctx, lambda: text_lines(storage.open_chunks(key)),
                                 source_name=job.input_name or "upload", progress=progress,
                                 outbox=outbox)
    _run(job_run_id, work)


FUNCTION_OBJECTS: dict[str, Callable[[int], None]] = {
    EXPIRY_CHECK: run_expiry_check_job, OFSTED_IMPORT: run_ofsted_import_job}


def _context(job: JobRun) -> audit.AuditContext:
    if job.started_by_id is None:
        return audit.SYSTEM
    user = db.session.get(User, job.started_by_id)
    return audit.AuditContext(actor_id=user.id, actor_role=user.role.value)


def _run(job_run_id: int, work) -> None:
    job = db.session.get(JobRun, job_run_id)
    if job is None:
        log.error("job run %s not found", job_run_id)
        return
    if job.status is JobStatus.FINISHED:
        return  # a requeued copy of a job that already ran
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    job.error = None
    job.done = 0
    db.session.commit()
    outbox: list[Outgoing] = []

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total
        db.session.commit()
        send_outgoing(outbox)

    try:
        report = work(job, _context(job), progress, outbox)
    except Exception as exc:
        db.session.rollback()
        outbox.clear()
        job = db.session.get(JobRun, job_run_id)
        job.status = JobStatus.FAILED
        job.error = (str(exc) if isinstance(exc, OfstedFileError)
                     else f"The job stopped because of an unexpected error ({type(exc).__name__}: "
                          f"{exc}). Changes saved before it stopped are kept; it is safe to "
                          "run it again.")
        job.finished_at = utcnow()
        db.session.commit()
        if isinstance(exc, OfstedFileError):
            return  # the file's fault, reported on the job page: nothing to retry
        raise
    job.report = report
    job.status = JobStatus.FINISHED
    job.finished_at = utcnow()
    db.session.commit()
    send_outgoing(outbox)


def send_outgoing(outbox: list[Outgoing]) -> None:
    """Send what is committed. One message failing must not stop the others."""
    messages = list(outbox)
    outbox.clear()
    ready = []
    for message in messages:
        try:
            links = {name: external_url(endpoint, **values)
                     for name, (endpoint, values) in message.links.items()}
            ready.append((message.to, message.template, {**message.context, **links}))
        except Exception:
            log.exception("could not send %s to %s", message.template, message.to)
    send_emails(ready)


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an email. A worker has no request to take the host
    from: set SERVER_NAME (and PREFERRED_URL_SCHEME) where jobs run."""
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context():
        return url_for(endpoint, _external=True, **values)
