"""Time the fee review invitation job at national scale, through Redis and a
real rq worker process, as deployed.

    python bench/bench_invitations.py --database-url sqlite:////tmp/bench-inv/portal.db
    python bench/bench_invitations.py --database-url postgresql+psycopg://postgres@127.0.0.1:55499/bench

An empty database is migrated and filled with `app.bench_data.generate`
(--providers, seed 42) first; a database already holding bench data is used as
it is (it is written to: run it on a copy). A manager of the bench DPS closes
any round still open there (a scratch database: the round's closing date is
passed as "today"), creates a round on every lot and opens it, which commits
the invitation JobRun and queues it in Redis. Then:

1. `rq worker --burst --max-jobs 1` runs the invitation job alone: one
   submission per provider with an active membership, a line per price in
   force, batches of 500 committed with the job's progress, each batch's
   emails rendered and queued once it is committed. Timed from the worker's
   start to its exit (process start-up included) and by the JobRun's own
   started/finished times.
2. With --deliver, `flask --app wsgi worker --burst` then delivers the
   queued emails (to the outbox table), timed separately: delivery is a job
   per 100 emails (app.email.send_emails), not part of inviting.

Without --redis-url a redis-server is started on a free loopback port and
stopped at the end (also on error or Ctrl-C).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: give --redis-url instead.")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis
    client = Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return process, url
        except OSError:
            pass
        except Exception:  # redis.ConnectionError until it listens
            pass
        time.sleep(0.05)
    process.terminate()
    raise SystemExit("redis-server did not start")


def environment(database_url: str, redis_url: str, workdir: Path) -> dict:
    """What the portal and its worker read, as in production."""
    return {"PORTAL_ENV": "production", "SECRET_KEY": "bench-invitations-not-secret",
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "EMAIL_BACKEND": "outbox",
            "STORAGE_BACKEND": "local", "STORAGE_DIR": str(workdir / "documents"),
            "PORTAL_INSTANCE_DIR": str(workdir / "instance"),
            # Where a worker runs, email links take their host from SERVER_NAME.
            "SERVER_NAME": "portal.bench.invalid", "PREFERRED_URL_SCHEME": "https",
            "RATE_LIMITS_ENABLED": "0"}


def prepare(providers: int) -> dict:
    """Load bench data if the database is empty, then open a round on every
    lot and queue its invitations. Returns what the report needs."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.domain import fee_review
    from app.domain.applications import today
    from app.domain.audit import AuditContext
    from app.domain.states import FeeReviewStatus, MembershipStatus, Role
    from app.extensions import db
    from app.jobs.fee_review import enqueue_invitations
    from app.models import Dps, FeeReviewRound, Membership, User

    app = create_app()
    with app.app_context():
        if "dps" not in sa.inspect(db.engine).get_table_names():
            upgrade(directory=str(ROOT / "migrations"))
        if db.session.execute(sa.select(Dps.id).limit(1)).first() is None:
            from app.bench_data import generate
            print(f"Empty database: generating bench data for {providers:,} providers ...")
            counts = generate(providers=providers, echo=lambda line: None)
            print(f"  done in {counts['seconds']} s")
        dps = db.session.execute(sa.select(Dps).order_by(Dps.id).limit(1)).scalar_one()
        manager = db.session.execute(
            sa.select(User).where(User.role == Role.MANAGER, User.is_active_account.is_(True))
            .order_by(User.id).limit(1)).scalar_one()
        ctx = AuditContext(actor_id=manager.id, actor_role=manager.role.value)
        on = today()
        for round in db.session.execute(
                sa.select(FeeReviewRound).where(FeeReviewRound.dps_id == dps.id,
                                                FeeReviewRound.status == FeeReviewStatus.OPEN)
        ).scalars().all():
            fee_review.close_round(round, manager, ctx, max(on, round.closes_on))
            print(f"Closed the round already open on these lots: {round.name}")
        lot_ids = [lot.id for lot in dps.lots]
        effective_on = date(on.year + 1, 4, 1)
        data = fee_review.RoundInput(
            name=f"Benchmark fee review {time.strftime('%Y-%m-%d %H:%M:%S')}", lot_ids=lot_ids,
            opens_on=on, closes_on=on + timedelta(days=28), effective_on=effective_on,
            guidance_method="model", guidance_uplift=None, staff_cost_weight=Decimal("70"),
            nlw_change=Decimal("4.1"), cpih=Decimal("3.4"), cap_uplift=Decimal("10"),
            message="Benchmark round.")
        round = fee_review.create_round(dps, data, manager, ctx)
        job = fee_review.open_round(round, manager, ctx, on)
        db.session.commit()
        expected = db.session.execute(
            sa.select(sa.func.count(sa.distinct(Membership.provider_id)))
            .where(Membership.lot_id.in_(lot_ids),
                   Membership.status == MembershipStatus.ACTIVE)).scalar_one()
        enqueue_invitations(job)
        info = {"round_id": round.id, "job_id": job.id, "expected": expected,
                "dialect": db.engine.dialect.name}
        db.session.remove()
        db.engine.dispose()
        return info


def run(command: list[str]) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"{command[0]} exited with {result.returncode}")
    return seconds


def report(info: dict, worker_seconds: float) -> dict:
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.models import FeeReviewLine, FeeReviewSubmission, JobRun

    app = create_app()
    with app.app_context():
        job = db.session.get(JobRun, info["job_id"])
        submissions = db.session.execute(
            sa.select(sa.func.count()).select_from(FeeReviewSubmission)
            .where(FeeReviewSubmission.round_id == info["round_id"])).scalar_one()
        lines = db.session.execute(
            sa.select(sa.func.count()).select_from(FeeReviewLine)
            .join(FeeReviewSubmission, FeeReviewSubmission.id == FeeReviewLine.submission_id)
            .where(FeeReviewSubmission.round_id == info["round_id"])).scalar_one()
        result = {"status": job.status.value, "error": job.error, "done": job.done,
                  "total": job.total, "submissions": submissions, "lines": lines,
                  "emails": (job.report or {}).get("emails"),
                  "job_seconds": (job.finished_at - job.started_at).total_seconds()
                  if job.finished_at and job.started_at else None,
                  "worker_seconds": worker_seconds}
        db.session.remove()
        db.engine.dispose()
        return result


def outbox_count() -> int:
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.models import OutboxEmail
    app = create_app()
    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(OutboxEmail)).scalar_one()
        db.session.remove()
        db.engine.dispose()
        return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--providers", type=int, default=5000,
                        help="providers to generate when the database is empty")
    parser.add_argument("--deliver", action="store_true",
                        help="then run a worker to deliver the queued emails, timed apart")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="bench-invitations-"))
    redis_process = None
    try:
        redis_url = args.redis_url
        if not redis_url:
            redis_process, redis_url = start_redis(workdir)
        os.environ.update(environment(args.database_url, redis_url, workdir))
        info = prepare(args.providers)
        print(f"Round {info['round_id']} opened ({info['dialect']}): {info['expected']:,} "
              "providers with an active membership to invite; job queued in Redis.")
        rq = str(Path(sys.executable).with_name("rq"))
        seconds = run([rq, "worker", "--burst", "--max-jobs", "1", "--url", redis_url,
                       "portal"])
        result = report(info, seconds)
        if result["status"] != "finished":
            raise SystemExit(f"The invitation job {result['status']}: {result['error']}")
        print(f"Providers invited: {result['submissions']:,}")
        print(f"Lines:             {result['lines']:,}")
        print(f"Emails queued:     {result['emails']:,}")
        print(f"Seconds (worker process, start to exit): {result['worker_seconds']:.1f}")
        print(f"Seconds (job started -> finished):       {result['job_seconds']:.1f}")
        if result["submissions"] >= 5000:
            verdict = "met" if result["worker_seconds"] < GOAL_SECONDS else "MISSED"
            print(f"Goal < {GOAL_SECONDS} s for 5,000 providers: {verdict}")
        else:
            print(f"(The goal, < {GOAL_SECONDS} s, is for 5,000 providers: generate more "
                  "providers into an empty database to measure it.)")
        if args.deliver:
            before = outbox_count()
            flask = str(Path(sys.executable).with_name("flask"))
            seconds = run([flask, "--app", "wsgi", "worker", "--burst"])
            delivered = outbox_count() - before
            print(f"Emails delivered to the outbox by `flask worker --burst`: {delivered:,} "
                  f"in {seconds:.1f} s")
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
