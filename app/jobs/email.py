from app.jobs import with_app_context


@with_app_context
def deliver_email(to: str, subject: str, body: str, template: str) -> None:
    from app.email import deliver
    deliver(to, subject, body, template)


@with_app_context
def deliver_batch(messages: list) -> None:
    """Deliver a batch; a message the backend refuses is queued again on its
    own, so one bad address neither stops the others nor is lost (rq keeps it
    in its failed registry if it fails again)."""
    from flask import current_app

    from app.email import deliver
    from app.jobs import enqueue
    for to, subject, body, template in messages:
        try:
            deliver(to, subject, body, template)
        except Exception:
            current_app.logger.exception("could not deliver %r to %s; queued again", template, to)
            enqueue("app.jobs.email.deliver_email", to, subject, body, template)
