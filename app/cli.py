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
        Worker([queue], connection=queue.connection).work(burst=burst)

    @app.cli.command("audit-verify")
    def audit_verify():
        """Check the audit trail's hash chain; exit 1 if any record was altered."""
        from app.domain.audit import verify_chain
        checked, bad = verify_chain()
        if bad:
            click.echo(f"{checked} events checked; {len(bad)} fail: ids {bad[:20]}")
            raise SystemExit(1)
        click.echo(f"{checked} events checked; the chain is intact.")
