"""The fee review invitation job: invite every provider of a round that has
just opened, in batches, while the commissioner watches its progress.

`open_round` adds the JobRun and the view commits it before calling
`enqueue_invitations` (a worker must find the row). Each batch of providers
is inserted and committed with the job's progress, then that batch's emails
are sent; a failure keeps the batches already committed, and running the job
again skips the providers already invited.
"""
import logging

import sqlalchemy as sa

from app.domain import audit
from app.domain.applications import today
from app.domain.fee_review import INVITATION_JOB, invite_providers
from app.domain.states import JobStatus
from app.extensions import db
from app.jobs import enqueue, with_app_context
from app.jobs.compliance import send_outgoing
from app.models import FeeReviewRound, JobRun, User, utcnow

log = logging.getLogger(__name__)

FUNCTION = "app.jobs.fee_review.run_invitation_job"
JOB_TIMEOUT_SECONDS = 3600
KIND_LABEL = "Fee review invitations"

# Views send what the domain's *_emails functions return once they have committed.
send_emails = send_outgoing


def enqueue_invitations(job: JobRun) -> None:
    """Call after the commit that saved `job`. Without REDIS_URL the job runs
    here and now. While Redis is unreachable app.jobs.enqueue keeps the job in
    the database to be queued later; any other failure to queue it marks the
    job failed (the round stays open and the invitations can be sent again)."""
    job_id = job.id
    try:
        enqueue(FUNCTION, job_id, job_timeout=JOB_TIMEOUT_SECONDS)
    except Exception:
        log.exception("could not queue job run %s", job_id)
        db.session.rollback()
        failed = db.session.get(JobRun, job_id)
        failed.status = JobStatus.FAILED
        failed.error = "The invitations could not be queued. Try again in a few minutes."
        failed.finished_at = utcnow()
        db.session.commit()


def _context(job: JobRun) -> audit.AuditContext:
    if job.started_by_id is None:
        return audit.SYSTEM
    user = db.session.get(User, job.started_by_id)
    return audit.AuditContext(actor_id=user.id, actor_role=user.role.value)


@with_app_context
def run_invitation_job(job_run_id: int) -> None:
    job = db.session.get(JobRun, job_run_id)
    if job is None or job.kind != INVITATION_JOB:
        log.error("fee review invitation job run %s not found", job_run_id)
        return
    if job.status is JobStatus.FINISHED:
        return  # a requeued copy of a job that already ran
    round = db.session.execute(
        sa.select(FeeReviewRound).where(FeeReviewRound.invitation_job_id == job_run_id)
    ).scalar_one_or_none()
    if round is None:
        job.status = JobStatus.FAILED
        job.error = "No fee review round is waiting for these invitations."
        job.finished_at = utcnow()
        db.session.commit()
        return
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    job.error = None
    job.done = 0
    db.session.commit()
    outbox: list = []

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total
        db.session.commit()
        send_outgoing(outbox)

    try:
        report = invite_providers(_context(job), round, job.run_date or today(),
                                  progress=progress, outbox=outbox)
    except Exception as exc:
        db.session.rollback()
        outbox.clear()
        job = db.session.get(JobRun, job_run_id)
        job.status = JobStatus.FAILED
        job.error = (f"The invitations stopped because of an unexpected error "
                     f"({type(exc).__name__}: {exc}). Providers invited before it stopped "
                     "stay invited; it is safe to send the invitations again.")
        job.finished_at = utcnow()
        db.session.commit()
        raise
    job.report = report
    job.status = JobStatus.FINISHED
    job.finished_at = utcnow()
    db.session.commit()
    send_outgoing(outbox)


def run_now(job: JobRun) -> JobRun:
    """Run a committed invitation job in this process (the command line)."""
    job_id = job.id
    try:
        run_invitation_job(job_id)
    except Exception:
        log.exception("job run %s failed", job_id)
    db.session.expire_all()
    return db.session.get(JobRun, job_id)
