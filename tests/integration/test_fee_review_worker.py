"""The fee review invitations through a real redis-server and a real rq
worker process (`flask --app wsgi worker --burst`, PORTAL_ENV=production):
opening a round only queues the job; the worker invites the members, records
the job's progress and delivers each provider's email with its link."""
from datetime import date, timedelta
from decimal import Decimal

from rq.job import JobStatus as RqStatus

from app.domain import fee_review
from app.domain.applications import today
from app.domain.prices import NewPrice, replace_prices
from app.domain.states import JobStatus, MembershipStatus, PriceSource, Role, SubmissionStatus
from app.extensions import db
from app.jobs import get_queue
from app.jobs.fee_review import FUNCTION, enqueue_invitations
from app.models import FeeReviewRound, FeeReviewSubmission, JobRun, Membership
from tests.factories import make_provider, outbox
from tests.factories_evaluation import ctx_for, make_staff, quick_user
from tests.integration.test_rq_worker import run_worker


def _member(lot, weekly):
    provider = make_provider()
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, started_on=date(2024, 4, 1),
                              status=MembershipStatus.ACTIVE))
    replace_prices(provider.id, lot.id, date(2024, 4, 1),
                   [NewPrice(amount=Decimal(a), placement_type_id=pt.id)
                    for pt, a in zip(lot.placement_types, weekly)],
                   source=PriceSource.APPLICATION, source_id=None)
    db.session.commit()
    return provider.id, quick_user(Role.PROVIDER_ADMIN, provider).email


def test_invitations_wait_in_redis_until_a_worker_sends_them(rq_app, tmp_path):
    with rq_app.app_context():
        from app.demo import build_dps
        dps = build_dps()
        db.session.commit()
        fostering, residential = dps.lots[0], dps.lots[1]
        members = [_member(fostering, ("900", "950")), _member(fostering, ("1010",)),
                   _member(residential, ("3800", "4100", "3500"))]
        manager = make_staff(Role.MANAGER)
        on = today()
        round = fee_review.create_round(dps, fee_review.RoundInput(
            name="Fee review 2027-28", lot_ids=[fostering.id, residential.id], opens_on=on,
            closes_on=on + timedelta(days=28), effective_on=on + timedelta(days=60),
            guidance_method="direct", guidance_uplift=Decimal("4"), staff_cost_weight=None,
            nlw_change=None, cpih=None, cap_uplift=None, message=""), manager, ctx_for(manager))
        job = fee_review.open_round(round, manager, ctx_for(manager), on)
        db.session.commit()
        round_id, job_id = round.id, job.id
        enqueue_invitations(job)

        queue = get_queue()
        assert queue.is_async
        [queued] = queue.get_jobs()
        assert queued.func_name == FUNCTION and queued.args == (job_id,)
        assert queued.get_status() == RqStatus.QUEUED
        assert db.session.get(JobRun, job_id).status is JobStatus.QUEUED
        assert FeeReviewSubmission.query.count() == 0 and outbox() == []
        db.session.remove()   # nothing of ours stays open on the worker's database

        result = run_worker(rq_app, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

        assert queued.get_status(refresh=True) == RqStatus.FINISHED
        assert queue.count == 0 and queue.failed_job_registry.count == 0
        job = db.session.get(JobRun, job_id)
        assert job.status is JobStatus.FINISHED and (job.done, job.total) == (3, 3)
        assert job.report["invited"] == 3 and job.report["lines"] == 6
        submissions = FeeReviewSubmission.query.filter_by(round_id=round_id).all()
        assert {s.provider_id for s in submissions} == {pid for pid, _ in members}
        assert all(s.status is SubmissionStatus.INVITED for s in submissions)
        # The worker also delivered the emails the job queued after its commit.
        for provider_id, address in members:
            [email] = outbox(address)
            submission = next(s for s in submissions if s.provider_id == provider_id)
            assert email.template == "fee_review_invitation"
            assert email.subject == (f"Fee review 2027-28: propose your prices by "
                                     f"{(on + timedelta(days=28)).day} "
                                     f"{(on + timedelta(days=28)):%B %Y}")
            assert f"/fee-review/{submission.id}" in email.body
        assert db.session.get(FeeReviewRound, round_id).invitation_job_id == job_id
        db.session.remove()
