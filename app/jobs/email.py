from app.jobs import with_app_context


@with_app_context
def deliver_email(to: str, subject: str, body: str, template: str) -> None:
    from app.email import deliver
    deliver(to, subject, body, template)
