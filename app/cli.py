"""Command-line tasks: `flask --app wsgi <command>`."""
import click
from flask import Flask

from app.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("demo-data")
    @click.option("--reset", is_flag=True, help="Delete existing data first.")
    def demo_data(reset: bool):
        """Load the demo DPS, its lots, staff users and providers."""
        from app.demo import load_demo_data
        summary = load_demo_data(reset=reset)
        click.echo(summary)

    @app.cli.command("bench-data")
    @click.option("--providers", default=5000, show_default=True,
                  help="Providers at scale 1 (settings, documents and so on follow).")
    @click.option("--scale", default=1.0, show_default=True, help="Multiply every count.")
    @click.option("--seed", default=42, show_default=True, help="Same seed, same data.")
    @click.option("--reset", is_flag=True, help="Delete existing data first.")
    def bench_data(providers: int, scale: float, seed: int, reset: bool):
        """Fill the database with a deterministic national-scale DPS for benchmarks."""
        from app.bench_data import BENCH_PASSWORD, generate, reset_database
        if reset:
            reset_database()
        click.echo(f"Generating national-scale data (providers={providers}, scale={scale}, "
                   f"seed={seed}) into {db.engine.url.render_as_string(hide_password=True)}")
        try:
            counts = generate(providers=providers, scale=scale, seed=seed, echo=click.echo)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        seconds = counts.pop("seconds")
        click.echo(f"Done in {seconds}s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
        click.echo(f"Provider users sign in as admin@p<provider id>.bench.example with the "
                   f"password '{BENCH_PASSWORD}'; staff use the demo accounts.")

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", "full_name", required=True)
    @click.password_option()
    def create_admin(email: str, full_name: str, password: str):
        """Create the first administrator (who then creates other staff)."""
        from app.domain import accounts, audit
        from app.domain.states import Role
        from app.models import utcnow
        problem = accounts.password_problem(password, email)
        if problem:
            raise click.ClickException(problem)
        user = accounts.invite_user(audit.SYSTEM, email=email, full_name=full_name,
                                    role=Role.ADMIN, provider_id=None, invited_by=None)
        user.set_password(password)
        user.email_confirmed_at = utcnow()
        db.session.commit()
        click.echo(f"Administrator {user.email} created.")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    def worker(burst: bool):
        """Run an rq worker for the portal's queue (needs REDIS_URL)."""
        from rq import Worker
        from app.jobs import get_queue
        queue = get_queue()
        if queue.is_async is False:
            raise click.ClickException("Set REDIS_URL: without it jobs already run in-process.")
        # Jobs kept in the database while Redis was unreachable go first.
        from app.jobs import requeue_deferred_jobs
        queued, left = requeue_deferred_jobs()
        if queued or left:
            click.echo(f"{queued} deferred jobs queued; {left} still waiting.")
        Worker([queue], connection=queue.connection).work(burst=burst)

    @app.cli.command("compliance-check")
    @click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Check as on this date (YYYY-MM-DD); today in the UK by default.")
    def compliance_check(on):
        """Run the evidence expiry check now, in this process (schedule it daily)."""
        from app.domain.applications import today
        from app.jobs import compliance as jobs
        job = jobs.new_expiry_check(on.date() if on else today(), None)
        db.session.commit()
        job = jobs.run_now(job)
        # The daily run also forgets one-time form tokens spent long ago: a
        # month covers any double click or back-and-resubmit.
        from datetime import timedelta
        from app.domain import form_tokens
        from app.models import utcnow
        purged = form_tokens.purge(utcnow() - timedelta(days=30))
        db.session.commit()
        click.echo(f"{purged} one-time form tokens older than 30 days forgotten.")
        _finish(job, lambda r: (
            f"Expiry check for {r['on']}: {r['providers']} providers checked, "
            f"{len(r['reminders'])} reminders sent, {len(r['expired'])} certificates expired, "
            f"{len(r['non_compliant'])} memberships made non-compliant, "
            f"{len(r['suspended'])} suspended automatically, "
            f"{len(r['restored'])} compliant again."))

    @app.cli.command("ofsted-import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def ofsted_import(file: str):
        """Import Ofsted's management information (CSV) now, in this process."""
        from pathlib import Path
        from app.domain.documents import HEADER_BYTES
        from app.domain.ofsted_import import OfstedFileError, check_header
        from app.jobs import compliance as jobs
        from app.storage import UploadTooLarge
        with open(file, "rb") as stream:
            try:
                check_header(stream.read(HEADER_BYTES))
            except OfstedFileError as exc:
                raise click.ClickException(str(exc)) from None
            stream.seek(0)
            try:
                job = jobs.new_ofsted_import(stream, Path(file).name, None,
                                             app.config["MAX_UPLOAD_BYTES"])
            except UploadTooLarge:
                raise click.ClickException("The file is larger than MAX_UPLOAD_BYTES") from None
        db.session.commit()
        job = jobs.run_now(job)
        _finish(job, lambda r: (
            f"Ofsted import of {r['file']}: {r['rows']} rows, {r['updated']} settings updated, "
            f"{r['unchanged']} unchanged, {len(r['downgrades'])} below a lot's minimum "
            f"(concerns raised), {len(r['unknown_urns'])} unknown URNs, "
            f"{len(r['malformed'])} malformed rows.") + _problem_lines(r))

    def _problem_lines(report: dict, limit: int = 50) -> str:
        from app.domain.ofsted_import import problem_rows
        problems = problem_rows(report)
        lines = [f"\n  row {p['row']}: {p['problem']} {p['urn']} {p['detail']}".rstrip()
                 for p in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"\n  ... and {len(problems) - limit} more: see the job in the portal")
        return "".join(lines)

    def _finish(job, summary) -> None:
        if job.status.value != "finished":
            raise click.ClickException(f"Job {job.id} failed: {job.error}")
        click.echo(summary(job.report))
        click.echo(f"Job {job.id} finished.")

    @app.cli.command("audit-verify")
    def audit_verify():
        """Check the audit trail's hash chain; exit 1 if any record was altered."""
        from app.domain.audit import verify_chain
        checked, bad = verify_chain()
        if bad:
            click.echo(f"{checked} events checked; {len(bad)} fail: ids {bad[:20]}")
            raise SystemExit(1)
        click.echo(f"{checked} events checked; the chain is intact.")

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False))
    def backup_command(path: str):
        """Back up the database to PATH (SQLite online backup, or pg_dump -Fc)."""
        from app.backup import BackupError, backup
        try:
            result = backup(path)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Backed up the {result.dialect} database to {result.path} "
                   f"({result.size:,} bytes).")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--force", is_flag=True,
                  help="Replace a database that already holds data (everything in it is lost).")
    def restore_command(path: str, force: bool):
        """Restore the database from a backup made by `backup` (into an empty database)."""
        from app.backup import BackupError, restore
        try:
            replaced = restore(path, force=force)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        note = f" (replaced {len(replaced)} tables that held rows)" if replaced else ""
        click.echo(f"Restored {path}{note}. Check the audit trail with `audit-verify`.")

    @app.cli.command("export-personal-data")
    @click.argument("email")
    def export_personal_data(email: str):
        """Print, as JSON, everything the portal holds about the user with EMAIL."""
        import json
        from app.domain import accounts
        from app.privacy.export import personal_data
        user = accounts.find_by_email(email)
        if user is None:
            raise click.ClickException(f"No user has the email address {email}")
        click.echo(json.dumps(personal_data(user), indent=2, ensure_ascii=False))

    @app.cli.command("requeue-deferred")
    def requeue_deferred():
        """Queue the jobs that were kept in the database while Redis was unreachable (run from cron)."""
        from app.jobs import get_queue, requeue_deferred_jobs
        if get_queue().is_async is False:
            raise click.ClickException("Set REDIS_URL: without it jobs run in-process "
                                       "and are never deferred.")
        queued, left = requeue_deferred_jobs()
        click.echo(f"{queued} deferred jobs queued; {left} still waiting.")
        if left:
            raise SystemExit(1)
