"""The daily evidence expiry check: reminders at 60, 30 and 7 days exactly
once each, non-compliance on expiry, automatic suspension after a lot's grace
period, and restoration once a renewal is verified. Fixed dates throughout."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain import audit
from app.domain import compliance as rules
from app.domain.reference import DocumentKind as K
from app.domain.states import (ComplianceStatus, DocumentStatus, MembershipStatus, Role,
                               SuspensionReason)
from app.extensions import db
from app.jobs.compliance import new_expiry_check, run_now
from app.models import AuditEvent, Document, ExpiryReminder, JobRun, Membership, Suspension
from app.storage import new_key
from tests.factories import make_provider, outbox
from tests.factories_evaluation import make_staff, quick_user

EXPIRES = date(2025, 9, 30)  # the public liability certificate's last day of cover
LATER = date(2027, 3, 31)
MILLION = Decimal("1000000")


def add_insurance(provider, kind: K, expires_on: date, *, cover=10 * MILLION,
                  status=DocumentStatus.VERIFIED, uploaded_at=None) -> Document:
    doc = Document(provider_id=provider.id, kind=kind, status=status,
                   storage_key=new_key(f"providers/{provider.id}"),
                   original_filename=f"{kind.value}.pdf", content_type="application/pdf",
                   size_bytes=10, sha256="0" * 64, insurer="Aviva",
                   policy_number=f"{kind.value[:2].upper()}-1", cover_amount=cover,
                   expires_on=expires_on,
                   uploaded_at=uploaded_at or datetime(2024, 10, 1, 9, 0))
    db.session.add(doc)
    db.session.commit()
    return doc


def approved_provider(lots, *, expires=EXPIRES):
    """A provider on `lots`, with an administrator, whose public liability
    expires on `expires` and whose other insurance is good for years."""
    provider = make_provider()
    admin = quick_user(Role.PROVIDER_ADMIN, provider)
    for lot in lots:
        db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                                  status=MembershipStatus.ACTIVE, started_on=date(2024, 11, 1)))
    db.session.commit()
    pl = add_insurance(provider, K.PUBLIC_LIABILITY, expires)
    add_insurance(provider, K.EMPLOYERS_LIABILITY, LATER)
    add_insurance(provider, K.PROFESSIONAL_INDEMNITY, LATER)
    return provider, admin, pl


def renew(provider, kind=K.PUBLIC_LIABILITY, *, expires=date(2026, 9, 30),
          status=DocumentStatus.AWAITING_CHECK, cover=10 * MILLION) -> Document:
    """Upload a renewal the way the evidence library does: the old one is replaced."""
    for old in Document.query.filter_by(provider_id=provider.id, kind=kind).all():
        old.status = DocumentStatus.SUPERSEDED
    return add_insurance(provider, kind, expires, status=status, cover=cover,
                         uploaded_at=datetime(2025, 9, 20, 9, 0))


def check(on: date):
    """Run the job as the schedule does, in-process; the finished JobRun."""
    job = new_expiry_check(on, None)
    db.session.commit()
    job = run_now(job)
    assert job.status.value == "finished", job.error
    return job


def templates_sent(to: str) -> list[str]:
    return [e.template for e in outbox(to)]


def membership(provider, lot) -> Membership:
    db.session.expire_all()
    return Membership.query.filter_by(provider_id=provider.id, lot_id=lot.id).one()


def test_due_threshold_is_the_most_urgent_reached():
    assert rules.due_threshold(EXPIRES, EXPIRES - timedelta(days=61)) is None
    assert rules.due_threshold(EXPIRES, EXPIRES - timedelta(days=60)) == 60
    assert rules.due_threshold(EXPIRES, EXPIRES - timedelta(days=31)) == 60
    assert rules.due_threshold(EXPIRES, EXPIRES - timedelta(days=30)) == 30
    assert rules.due_threshold(EXPIRES, EXPIRES - timedelta(days=5)) == 7
    assert rules.due_threshold(EXPIRES, EXPIRES) == 7  # still covered today
    assert rules.due_threshold(EXPIRES, EXPIRES + timedelta(days=1)) is None


def test_daily_runs_send_each_reminder_once_then_one_expiry_notice(dps):
    lot = dps.lots[0]
    provider, admin, pl = approved_provider([lot])
    manager = make_staff(Role.MANAGER)
    day = EXPIRES - timedelta(days=70)
    while day <= EXPIRES + timedelta(days=5):
        check(day)
        if day == EXPIRES - timedelta(days=30):
            check(day)  # run twice on one day: nothing new
        day += timedelta(days=1)

    expected = ["expiry_reminder"] * 3 + ["expiry_expired"]
    assert templates_sent(admin.email) == expected
    assert templates_sent(provider.contact_email) == expected
    reminders = outbox(admin.email)
    assert [r.subject for r in reminders[:3]] == [
        "Your public liability insurance expires on 30 September 2025"] * 3
    assert "in 60 days" in reminders[0].body and "in 30 days" in reminders[1].body
    assert "in 7 days" in reminders[2].body
    assert "/evidence/upload?kind=public_liability" in reminders[0].body
    assert sorted(r.days_before for r in ExpiryReminder.query.filter_by(document_id=pl.id)) == [
        0, 7, 30, 60]

    [staff_email] = outbox(manager.email)
    assert staff_email.template == "compliance_non_compliant"
    assert provider.display_name in staff_email.subject
    assert "Lot 1: Independent fostering" in staff_email.body

    m = membership(provider, lot)
    assert m.compliance is ComplianceStatus.NON_COMPLIANT
    assert m.non_compliant_since == EXPIRES + timedelta(days=1)
    assert m.non_compliance_reason == ("Expired evidence: Public liability insurance expired "
                                       "on 30 September 2025")
    assert m.status is MembershipStatus.ACTIVE  # the lot has no automatic suspension
    [event] = AuditEvent.query.filter_by(action="membership.non_compliant").all()
    assert (event.subject_type, event.subject_id) == ("membership", m.id)


def test_a_first_run_inside_seven_days_sends_only_the_seven_day_reminder(dps):
    provider, admin, pl = approved_provider([dps.lots[0]])
    check(EXPIRES - timedelta(days=5))
    check(EXPIRES - timedelta(days=4))
    [email] = outbox(admin.email)
    assert "in 5 days" in email.body
    assert [r.days_before for r in ExpiryReminder.query.filter_by(document_id=pl.id)] == [7]


def test_a_missed_threshold_is_caught_up_without_the_earlier_one(dps):
    provider, admin, _ = approved_provider([dps.lots[0]])
    check(EXPIRES - timedelta(days=45))  # the 60-day reminder, late
    check(EXPIRES - timedelta(days=20))  # the check did not run on day 30
    check(EXPIRES - timedelta(days=19))
    bodies = [e.body for e in outbox(admin.email)]
    assert len(bodies) == 2
    assert "in 45 days" in bodies[0] and "in 20 days" in bodies[1]


def test_evidence_expired_before_the_first_run_gets_only_the_expiry_notice(dps):
    provider, admin, _ = approved_provider([dps.lots[0]])
    report = check(EXPIRES + timedelta(days=3)).report
    assert templates_sent(admin.email) == ["expiry_expired"]
    assert [e["kind"] for e in report["expired"]] == ["Public liability insurance"]
    assert [e["lot"] for e in report["non_compliant"]] == ["Lot 1: Independent fostering"]


def test_removed_memberships_and_documents_without_expiry_are_left_alone(dps):
    provider, admin, pl = approved_provider([dps.lots[0]])
    Membership.query.filter_by(provider_id=provider.id).one().status = MembershipStatus.REMOVED
    db.session.commit()
    report = check(EXPIRES + timedelta(days=1)).report
    assert report["providers"] == 0 and outbox() == []


def test_automatic_suspension_after_the_grace_period_happens_once(dps):
    lot, other = dps.lots[0], dps.lots[2]
    lot.auto_suspend_after_days = 14
    db.session.commit()
    provider, admin, _ = approved_provider([lot, other])
    manager = make_staff(Role.MANAGER)

    check(EXPIRES + timedelta(days=1))
    check(EXPIRES + timedelta(days=14))  # 13 full days non-compliant: not yet
    assert Suspension.query.count() == 0

    report = check(EXPIRES + timedelta(days=15)).report
    check(EXPIRES + timedelta(days=16))
    [suspension] = Suspension.query.all()
    assert suspension.automatic and suspension.lot_id == lot.id
    assert suspension.reason is SuspensionReason.EXPIRED_EVIDENCE
    assert suspension.starts_on == EXPIRES + timedelta(days=15)
    assert suspension.remedy.startswith("Upload the renewed certificate")
    assert [s["lot"] for s in report["suspended"]] == [lot.title]
    assert membership(provider, lot).status is MembershipStatus.SUSPENDED
    # A lot without a grace period stays active, non-compliant, for commissioners to decide.
    assert membership(provider, other).status is MembershipStatus.ACTIVE
    assert membership(provider, other).compliance is ComplianceStatus.NON_COMPLIANT
    assert templates_sent(admin.email).count("compliance_suspended") == 1
    assert templates_sent(manager.email) == ["compliance_non_compliant",
                                             "compliance_suspended_staff"]


def test_a_suspension_lifted_by_a_commissioner_is_not_reimposed_while_suspended(dps):
    lot = dps.lots[0]
    lot.auto_suspend_after_days = 0
    db.session.commit()
    provider, _, _ = approved_provider([lot])
    check(EXPIRES + timedelta(days=1))
    [suspension] = Suspension.query.all()
    from app.domain.suspensions import suspend
    # A commissioner's own suspension on top: no second automatic one.
    suspend(audit.SYSTEM, provider, lot=lot, reason=SuspensionReason.OTHER,
            description="Under review", starts_on=EXPIRES)
    db.session.commit()
    check(EXPIRES + timedelta(days=2))
    assert Suspension.query.filter_by(automatic=True).count() == 1


def test_an_unverified_renewal_keeps_the_membership_non_compliant(dps):
    lot = dps.lots[0]
    provider, admin, _ = approved_provider([lot])
    check(EXPIRES + timedelta(days=1))
    renew(provider, status=DocumentStatus.AWAITING_CHECK)
    check(EXPIRES + timedelta(days=2))
    assert membership(provider, lot).compliance is ComplianceStatus.NON_COMPLIANT
    assert "compliance_restored" not in templates_sent(admin.email)


def test_a_verified_renewal_restores_compliance_and_lifts_the_automatic_suspension(dps):
    lot = dps.lots[0]
    lot.auto_suspend_after_days = 7
    db.session.commit()
    provider, admin, _ = approved_provider([lot])
    check(EXPIRES + timedelta(days=1))
    check(EXPIRES + timedelta(days=8))
    [suspension] = Suspension.query.all()
    assert membership(provider, lot).status is MembershipStatus.SUSPENDED

    renew(provider, status=DocumentStatus.VERIFIED)
    report = check(EXPIRES + timedelta(days=9)).report

    m = membership(provider, lot)
    assert m.compliance is ComplianceStatus.COMPLIANT and m.status is MembershipStatus.ACTIVE
    assert m.non_compliant_since is None and m.non_compliance_reason is None
    db.session.refresh(suspension)
    assert suspension.lifted_at is not None and suspension.lift_note == "Renewed evidence verified"
    assert report["restored"] == [dict(rules._membership_entry(m), reinstated=True)]
    assert "compliance_restored" in templates_sent(admin.email)
    actions = [e.action for e in AuditEvent.query.order_by(AuditEvent.id)]
    assert "membership.compliance_restored" in actions and "provider.reinstated" in actions
    check(EXPIRES + timedelta(days=10))
    assert templates_sent(admin.email).count("compliance_restored") == 1


def test_a_renewal_below_the_lot_minimum_does_not_restore(dps):
    lot = dps.lots[1]  # residential homes: public liability of at least £10m
    provider, _, _ = approved_provider([lot])
    check(EXPIRES + timedelta(days=1))
    renew(provider, status=DocumentStatus.VERIFIED, cover=5 * MILLION)
    check(EXPIRES + timedelta(days=2))
    assert membership(provider, lot).compliance is ComplianceStatus.NON_COMPLIANT


def test_a_commissioners_own_non_compliance_finding_is_not_restored(dps):
    lot = dps.lots[0]
    provider, _, _ = approved_provider([lot], expires=LATER)
    m = membership(provider, lot)
    m.compliance = ComplianceStatus.NON_COMPLIANT
    m.non_compliance_reason = "Credit report shows county court judgements"
    m.non_compliant_since = date(2025, 8, 1)
    db.session.commit()
    check(date(2025, 9, 1))
    assert membership(provider, lot).compliance is ComplianceStatus.NON_COMPLIANT


def test_verifying_a_renewal_and_rechecking_restores_at_once(dps):
    lot = dps.lots[0]
    provider, admin, _ = approved_provider([lot])
    check(EXPIRES + timedelta(days=1))
    renewal = renew(provider)
    evaluator = make_staff(Role.EVALUATOR)
    ctx = audit.AuditContext(actor_id=evaluator.id, actor_role="evaluator")
    rules.verify_renewal(ctx, renewal, evaluator.id)
    mail = []
    report = rules.recheck_provider(ctx, provider.id, EXPIRES + timedelta(days=1), outbox=mail)
    db.session.commit()
    assert renewal.status is DocumentStatus.VERIFIED and renewal.verified_by_id == evaluator.id
    assert [r["provider_id"] for r in report["restored"]] == [provider.id]
    assert membership(provider, lot).compliance is ComplianceStatus.COMPLIANT
    assert {m.template for m in mail} == {"compliance_restored"}
    with pytest.raises(rules.ComplianceError):
        rules.verify_renewal(ctx, renewal, evaluator.id)


def test_dashboard_figures(dps):
    lot = dps.lots[0]
    on = EXPIRES - timedelta(days=20)
    soon, _, _ = approved_provider([lot])  # expires in 20 days
    later, _, _ = approved_provider([lot], expires=LATER)
    expired, _, _ = approved_provider([lot], expires=on - timedelta(days=3))
    m = membership(later, lot)
    m.status = MembershipStatus.SUSPENDED
    db.session.commit()
    check(on)
    assert rules.membership_counts() == {"active": 2, "suspended": 1, "non_compliant": 1}
    assert [(d.provider_id, d.kind) for d in rules.expiring_documents(on)] == [
        (soon.id, K.PUBLIC_LIABILITY)]
    assert rules.expiring_documents(on, within_days=19) == []
    renew(expired)
    assert [d.provider_id for d in rules.renewals_awaiting_check()] == [expired.id]


def test_the_command_line_runs_the_check_for_a_date(app, dps):
    provider, admin, _ = approved_provider([dps.lots[0]])
    result = app.test_cli_runner().invoke(args=["compliance-check", "--date", "2025-09-23"])
    assert result.exit_code == 0, result.output
    assert "1 providers checked, 1 reminders sent" in result.output
    job = db.session.execute(db.select(JobRun)).scalar_one()
    assert job.run_date == date(2025, 9, 23) and job.started_by_id is None
    assert [e.body.count("in 7 days") for e in outbox(admin.email)] == [1]


def test_an_applicants_evidence_is_not_verified_here(dps):
    provider = make_provider()
    doc = add_insurance(provider, K.PUBLIC_LIABILITY, LATER, status=DocumentStatus.AWAITING_CHECK)
    with pytest.raises(rules.ComplianceError, match="not on the DPS"):
        rules.verify_renewal(audit.SYSTEM, doc, None)
    assert doc.status is DocumentStatus.AWAITING_CHECK


def test_a_job_that_breaks_is_marked_failed_with_its_error(dps, monkeypatch):
    approved_provider([dps.lots[0]])

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr("app.jobs.compliance.run_expiry_check", broken)
    job = new_expiry_check(EXPIRES, None)
    db.session.commit()
    job = run_now(job)
    assert job.status.value == "failed" and job.finished_at is not None
    assert "database went away" in job.error and "safe to run it again" in job.error


def test_the_daily_command_forgets_form_tokens_spent_over_a_month_ago(app, dps):
    from datetime import timedelta

    from app.models import FormToken, utcnow
    now = utcnow()
    db.session.add_all([FormToken(token="o" * 43, form="ConcernForm", result_url="/c/1",
                                  spent_at=now - timedelta(days=31)),
                        FormToken(token="n" * 43, form="ConcernForm", result_url="/c/2",
                                  spent_at=now - timedelta(days=2))])
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["compliance-check"])
    assert result.exit_code == 0, result.output
    assert "1 one-time form tokens older than 30 days forgotten" in result.output
    assert [t.token for t in db.session.execute(db.select(FormToken)).scalars()] == ["n" * 43]
