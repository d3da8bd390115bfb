"""The compliance jobs through real Redis and a real `flask worker` process:
the JobRun is committed, then queued; the worker reads the uploaded Ofsted
file from shared storage, records progress and the report, and sends the
emails as jobs of their own."""
import io
import os
import subprocess
import sys
from datetime import date

from app.demo import build_dps
from app.domain.reference import DocumentKind as K, OfstedJudgement as J, SettingType
from app.domain.states import JobStatus, MembershipStatus, Role
from app.extensions import db
from app.jobs import get_queue
from app.jobs.compliance import enqueue_job, new_expiry_check, new_ofsted_import
from app.models import Concern, JobRun, Membership
from tests.factories import make_provider, make_setting, outbox
from tests.factories_evaluation import quick_user
from tests.integration.conftest import ROOT
from tests.integration.test_rq_worker import WORKER_TIMEOUT
from tests.unit.test_compliance_rules import add_insurance


def run_worker(app, tmp_path) -> subprocess.CompletedProcess:
    # Unlike the email test's worker, this one shares the app's storage: it
    # must read the file the portal stored.
    env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY="integration-test-secret",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], EMAIL_BACKEND="outbox",
               STORAGE_BACKEND="local", STORAGE_DIR=app.config["STORAGE_DIR"],
               PORTAL_INSTANCE_DIR=str(tmp_path / "instance"))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=WORKER_TIMEOUT)


def test_a_worker_runs_the_import_and_the_expiry_check(rq_app, tmp_path):
    with rq_app.app_context():
        dps = build_dps()
        db.session.commit()
        lot = dps.lots[1]
        provider = make_provider()
        admin_email = quick_user(Role.PROVIDER_ADMIN, provider).email
        db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                                  status=MembershipStatus.ACTIVE, started_on=date(2024, 6, 1)))
        db.session.commit()
        make_setting(provider, setting_type=SettingType.CHILDRENS_HOME, ofsted_urn="SC910001",
                     ofsted_judgement=J.GOOD, ofsted_judgement_date=date(2024, 2, 1))
        add_insurance(provider, K.PUBLIC_LIABILITY, date(2025, 10, 1))

        csv = ("URN,Setting name,Provider type,Latest overall effectiveness judgement,"
               "Inspection date\nSC910001,Elm,Children's home,Inadequate,02/09/2025\n")
        imported = new_ofsted_import(io.BytesIO(csv.encode()), "mi.csv", None, 1024 * 1024)
        db.session.commit()
        enqueue_job(imported)
        check = new_expiry_check(date(2025, 9, 25), None)
        db.session.commit()
        enqueue_job(check)
        ids = (imported.id, check.id)
        assert get_queue().count == 2
        assert {j.status for j in JobRun.query.all()} == {JobStatus.QUEUED}
        db.session.remove()

        result = run_worker(rq_app, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

        imported, check = (db.session.get(JobRun, i) for i in ids)
        assert imported.status is JobStatus.FINISHED, imported.error
        assert imported.report["updated"] == 1 and imported.done == imported.total == 1
        [concern] = Concern.query.all()
        assert concern.source == "ofsted_import"
        assert check.status is JobStatus.FINISHED, check.error
        assert len(check.report["reminders"]) == 1
        [email] = outbox(admin_email)
        assert email.template == "expiry_reminder" and "in 6 days" in email.body
        assert get_queue().count == 0 and get_queue().failed_job_registry.count == 0
        db.session.remove()
