"""Opening a round invites every provider with an active membership of its
lots: one submission each, one line per price in force on the day, emails
once the batch is committed; running it again invites nobody twice; the
statements run do not grow with the number of providers."""
from datetime import date

import pytest
import sqlalchemy as sa

from app.domain import fee_review
from app.domain.states import (FeeReviewStatus, JobStatus, LineDecision, MembershipStatus,
                               Role, SubmissionStatus)
from app.extensions import db
from app.jobs.fee_review import enqueue_invitations, run_invitation_job
from app.models import AuditEvent, FeeReviewLine, FeeReviewSubmission, JobRun, Membership
from tests.factories import count_statements, make_provider, outbox
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, quick_user, submission_of)

ON = date(2027, 1, 4)


@pytest.fixture
def manager(app_ctx):
    return make_staff(Role.MANAGER)


@pytest.fixture
def lots(dps):
    return dps.lots[0], dps.lots[1]




def test_opening_invites_active_members_with_a_line_per_price_in_force(dps, lots, manager):
    fostering, residential = lots
    both = member(fostering, weekly=("900", "950"), rates=("20", "35"),
                  custom=("Emergency assessment", "session", "175"))
    member(residential, both, weekly=("3800",), rates=())
    only_residential = member(residential, weekly=("4100", "3900"), rates=("40",))
    suspended = member(fostering, status=MembershipStatus.SUSPENDED)
    other_lot = member(dps.lots[2], weekly=("1200",))
    round = new_round(dps, manager, lots)

    job = open_and_invite(round, manager, ON)

    job = db.session.get(JobRun, job.id)
    assert job.status is JobStatus.FINISHED
    assert (job.done, job.total) == (2, 2)
    assert job.report["invited"] == 2 and job.report["lines"] == 9
    assert db.session.get(type(round), round.id).status is FeeReviewStatus.OPEN
    invited = {s.provider_id for s in FeeReviewSubmission.query.filter_by(round_id=round.id)}
    assert invited == {both.id, only_residential.id}
    assert suspended.id not in invited and other_lot.id not in invited

    submission = submission_of(round, both)
    assert submission.status is SubmissionStatus.INVITED
    lines = [(ln.lot_id, ln.label, ln.unit, ln.current_amount, ln.placement_type_id is not None)
             for ln in submission.lines]
    pts, items = fostering.placement_types, fostering.service_items
    assert lines == [
        (fostering.id, pts[0].name, "week", D("900"), True),
        (fostering.id, pts[1].name, "week", D("950"), True),
        (fostering.id, items[0].name, items[0].unit.value, D("20"), False),
        (fostering.id, items[1].name, items[1].unit.value, D("35"), False),
        (fostering.id, "Emergency assessment", "session", D("175"), False),
        (residential.id, residential.placement_types[0].name, "week", D("3800"), True),
    ]
    assert all(ln.decision is LineDecision.PENDING and ln.proposed_amount is None
               for ln in submission.lines)
    # Weekly fees only in the totals: 900 + 950 + 3800.
    assert submission.current_total == D("5650") == submission.requested_total
    assert submission.above_guidance is False


def test_lines_snapshot_the_price_in_force_on_the_invitation_day(dps, lots, manager):
    fostering, _ = lots
    provider = member(fostering, weekly=("900",), rates=())
    # A price agreed earlier to start after the invitation day is not the current one.
    from app.domain.prices import NewPrice, replace_prices
    from app.domain.states import PriceSource
    replace_prices(provider.id, fostering.id, date(2027, 2, 1),
                   [NewPrice(amount=D("990"), placement_type_id=fostering.placement_types[0].id)],
                   source=PriceSource.NEGOTIATION, source_id=None)
    db.session.commit()
    round = new_round(dps, manager, [fostering])
    open_and_invite(round, manager, ON)
    [line] = submission_of(round, provider).lines
    assert line.current_amount == D("900")


def test_each_provider_admin_is_emailed_with_a_link_to_its_submission(dps, lots, manager):
    fostering, _ = lots
    provider = member(fostering, admin=False)
    admin_user = quick_user(Role.PROVIDER_ADMIN, provider)
    quick_user(Role.PROVIDER_USER, provider)  # admins only, when there are any
    no_admin = member(fostering, admin=False)
    staff_member = quick_user(Role.PROVIDER_USER, no_admin)
    round = new_round(dps, manager, [fostering], guidance_method="model",
                      guidance_uplift=None, staff_cost_weight=D("70"), nlw_change=D("4.1"),
                      cpih=D("3.4"), cap_uplift=D("6"))
    open_and_invite(round, manager, ON)

    sent = outbox()
    assert sorted(m.to for m in sent) == sorted([admin_user.email, staff_member.email])
    [mail] = outbox(admin_user.email)
    submission = submission_of(round, provider)
    assert mail.subject == "Fee review 2027-28: propose your prices by 31 January 2027"
    assert f"/fee-review/{submission.id}" in mail.body and "http" in mail.body
    assert "3.89%" in mail.body          # guidance from the model
    assert "70.00% of costs" in mail.body and "4.10%" in mail.body and "3.40%" in mail.body
    assert "above 6.00%" in mail.body    # the cap
    assert "1 April 2027" in mail.body   # effective date
    assert "Please send us your proposals." in mail.body


def test_running_the_invitations_again_invites_nobody_twice(dps, lots, manager):
    fostering, _ = lots
    first = member(fostering)
    round = new_round(dps, manager, [fostering])
    open_and_invite(round, manager, ON)
    assert len(outbox()) == 1
    # A provider approved since the round opened is invited by a second run.
    later = member(fostering)
    round = db.session.get(type(round), round.id)
    job = fee_review.rerun_invitations(round, manager, ctx_for(manager), ON)
    db.session.commit()
    enqueue_invitations(job)
    db.session.expire_all()
    job = db.session.get(JobRun, job.id)
    assert job.report["invited"] == 1 and job.report["already_invited"] == 1
    assert {s.provider_id for s in FeeReviewSubmission.query} == {first.id, later.id}
    assert len(outbox()) == 2
    # A requeued copy of a finished job does nothing.
    run_invitation_job(job.id)
    assert FeeReviewSubmission.query.count() == 2 and len(outbox()) == 2


def test_a_failed_run_keeps_committed_batches_and_a_rerun_completes(dps, lots, manager,
                                                                   monkeypatch):
    fostering, _ = lots
    providers = [member(fostering) for _ in range(3)]
    round = new_round(dps, manager, [fostering])
    job = fee_review.open_round(round, manager, ctx_for(manager), ON)
    db.session.commit()
    job_id = job.id

    real = fee_review._invite_batch
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)
    monkeypatch.setattr(fee_review, "_invite_batch", flaky)
    monkeypatch.setattr(fee_review, "INVITATION_BATCH", 2)
    with pytest.raises(RuntimeError):
        run_invitation_job(job_id)
    failed = db.session.get(JobRun, job_id)
    assert failed.status is JobStatus.FAILED and "safe to send the invitations again" in failed.error
    assert FeeReviewSubmission.query.count() == 2          # the first batch stayed
    assert len(outbox()) == 2                              # and its emails went

    monkeypatch.setattr(fee_review, "_invite_batch", real)
    round = db.session.get(type(round), round.id)
    again = fee_review.rerun_invitations(round, manager, ctx_for(manager), ON)
    db.session.commit()
    enqueue_invitations(again)
    assert {s.provider_id for s in FeeReviewSubmission.query} == {p.id for p in providers}
    assert len(outbox()) == 3


def test_the_invitation_job_statements_do_not_grow_with_providers(dps, lots, manager,
                                                                   monkeypatch):
    """Batching: a batch costs the same statements for 3 providers as for 12."""
    fostering, residential = lots
    sent = []
    # Delivery is a job of its own (in-process here): count the job's statements only.
    monkeypatch.setattr("app.jobs.compliance.send_emails",
                        lambda messages: sent.extend(to for to, _t, _c in messages))

    def invite(n):
        db.session.execute(sa.delete(FeeReviewLine))
        db.session.execute(sa.delete(FeeReviewSubmission))
        db.session.execute(sa.delete(Membership))
        db.session.commit()
        for _ in range(n):
            provider = member(fostering, weekly=("900", "950"), rates=("20",))
            member(residential, provider, weekly=("3800",), rates=("40",))
        round = new_round(dps, manager, lots, name=f"Round for {n}")
        job = fee_review.open_round(round, manager, ctx_for(manager), ON)
        db.session.commit()
        job_id = job.id
        db.session.expire_all()
        statements = count_statements(lambda: run_invitation_job(job_id))
        assert db.session.get(JobRun, job_id).report["invited"] == n
        assert len(sent) == n
        sent.clear()
        # Close it so the next round may open on the same lots.
        db.session.get(type(round), round.id).status = FeeReviewStatus.CLOSED
        db.session.commit()
        return statements

    few = invite(3)
    many = invite(12)
    assert many == few


def test_audit_records_the_opening_and_each_batch(dps, lots, manager):
    fostering, _ = lots
    member(fostering)
    member(fostering)
    round = new_round(dps, manager, [fostering])
    open_and_invite(round, manager, ON)
    actions = [e.action for e in AuditEvent.query.filter_by(subject_type="fee_review_round")
               .order_by(AuditEvent.id)]
    assert actions == ["fee_review.created", "fee_review.opened", "fee_review.invited"]
    invited = AuditEvent.query.filter_by(action="fee_review.invited").one()
    assert invited.actor_id == manager.id and invited.after["providers"] == 2


def test_a_provider_with_no_prices_is_invited_with_no_lines(dps, lots, manager):
    fostering, _ = lots
    provider = member(fostering, weekly=(), rates=())
    round = new_round(dps, manager, [fostering])
    open_and_invite(round, manager, ON)
    submission = submission_of(round, provider)
    assert submission.lines == [] and submission.current_total == 0


def test_no_members_finishes_with_nobody_invited(dps, lots, manager):
    make_provider()
    round = new_round(dps, manager, [lots[0]])
    job = open_and_invite(round, manager, ON)
    job = db.session.get(JobRun, job.id)
    assert job.status is JobStatus.FINISHED and (job.done, job.total) == (0, 0)
    assert job.report["invited"] == 0
