import sqlalchemy as sa
from flask import abort

from app.dev import bp
from app.extensions import db
from app.models import OutboxEmail
from app.web import render


@bp.get("/outbox")
def outbox():
    # Development only (see the blueprint guard); newest first, bounded.
    emails = db.session.execute(
        sa.select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(200)
    ).scalars().all()
    return render("dev/outbox.html", title="Email outbox", emails=emails)


@bp.get("/outbox/<int:email_id>")
def outbox_email(email_id: int):
    email = db.session.get(OutboxEmail, email_id) or abort(404)
    return render("dev/outbox_email.html", title=email.subject, email=email)
