"""Sending email behind one interface.

`send_email` renders a template and enqueues delivery after the caller has
committed. The default backend writes to the local outbox table, which a
developer reads at /dev/outbox; production selects another backend with
EMAIL_BACKEND.
"""
from flask import Flask, current_app, render_template

from app.extensions import db


class OutboxBackend:
    """Keeps every message in the database instead of sending it."""

    def send(self, to: str, subject: str, body: str, template: str) -> None:
        from app.models import OutboxEmail
        db.session.add(OutboxEmail(to=to, subject=subject, body=body, template=template))
        db.session.commit()


class NotifyBackend:
    """GOV.UK Notify, through one generic email template whose body is
    `((body))` and subject `((subject))`, so wording stays in this codebase."""

    def __init__(self, api_key: str, template_id: str, client=None):
        if client is None:
            from notifications_python_client.notifications import NotificationsAPIClient
            client = NotificationsAPIClient(api_key)
        self.client = client
        self.template_id = template_id

    def send(self, to: str, subject: str, body: str, template: str) -> None:
        self.client.send_email_notification(
            email_address=to, template_id=self.template_id,
            personalisation={"subject": subject, "body": body}, reference=template)


def init_app(app: Flask) -> None:
    name = app.config["EMAIL_BACKEND"]
    if name == "outbox":
        backend = OutboxBackend()
    elif name == "notify":
        for key in ("NOTIFY_API_KEY", "NOTIFY_TEMPLATE_ID"):
            if not app.config.get(key):
                raise RuntimeError(f"{key} must be set when EMAIL_BACKEND=notify")
        backend = NotifyBackend(app.config["NOTIFY_API_KEY"], app.config["NOTIFY_TEMPLATE_ID"])
    else:
        raise RuntimeError(f"Unknown EMAIL_BACKEND {name!r}; use outbox or notify")
    app.extensions["email_backend"] = backend


def unique_addresses(addresses) -> list[str]:
    """Each address once, whatever its case, blanks dropped, order kept."""
    seen, out = set(), []
    for address in addresses:
        address = (address or "").strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


def render_email(template: str, **ctx) -> tuple[str, str]:
    """Templates are plain text; the first line is `Subject: ...`."""
    text = render_template(f"emails/{template}.txt", **ctx)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"emails/{template}.txt must start with a Subject line")
    return first[len("Subject: "):].strip(), body.strip() + "\n"


def send_email(to: str, template: str, **ctx) -> None:
    """Call after commit: delivery runs as a background job."""
    from app.jobs import enqueue
    subject, body = render_email(template, **ctx)
    try:
        enqueue("app.jobs.email.deliver_email", to, subject, body, template)
    except Exception:
        # The user's change is already committed: a queue outage must not turn
        # it into an error page. `enqueue` keeps the job in the database when
        # Redis is down; only if that fails too is the message lost, so log
        # loudly for it to be re-sent.
        current_app.logger.exception("could not queue email %r to %s", template, to)


# One delivery job per this many messages: an invitation round of 5,000
# providers is 50 jobs, not 5,000 forks of the rq worker (about 10 a second).
BATCH_SIZE = 100


def send_emails(messages) -> None:
    """Many emails at once, `messages` being (to, template, context) triples:
    like send_email, after commit, but delivered in batches."""
    from app.jobs import enqueue
    batch: list[tuple[str, str, str, str]] = []

    def flush():
        if batch:
            try:
                enqueue("app.jobs.email.deliver_batch", list(batch))
            except Exception:
                current_app.logger.exception("could not queue %d emails", len(batch))
            batch.clear()
    for to, template, ctx in messages:
        try:
            subject, body = render_email(template, **ctx)
        except Exception:
            current_app.logger.exception("could not render email %r to %s", template, to)
            continue
        batch.append((to, subject, body, template))
        if len(batch) >= BATCH_SIZE:
            flush()
    flush()


def deliver(to: str, subject: str, body: str, template: str) -> None:
    current_app.extensions["email_backend"].send(to, subject, body, template)
