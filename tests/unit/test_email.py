import pytest

from app import create_app
from app.email import NotifyBackend, send_email
from config import TestConfig
from tests.factories import outbox


class FakeNotify:
    def __init__(self):
        self.sent = []

    def send_email_notification(self, **kwargs):
        self.sent.append(kwargs)


def test_outbox_backend_keeps_the_rendered_email(app_ctx):
    class U:
        full_name = "Amira Khan"
    send_email("amira@example.com", "reset_password", user=U(), link="http://localhost/reset/abc")
    [email] = outbox("amira@example.com")
    assert email.subject == "Reset your password"
    assert "Dear Amira Khan" in email.body and "http://localhost/reset/abc" in email.body


def test_notify_backend_sends_subject_and_body_through_one_template():
    fake = FakeNotify()
    NotifyBackend("key", "tmpl-1", client=fake).send("a@example.com", "Hello", "Body text", "greeting")
    assert fake.sent == [{"email_address": "a@example.com", "template_id": "tmpl-1",
                          "personalisation": {"subject": "Hello", "body": "Body text"},
                          "reference": "greeting"}]


def test_notify_backend_needs_its_settings():
    config = TestConfig()
    config.EMAIL_BACKEND = "notify"
    with pytest.raises(RuntimeError, match="NOTIFY_API_KEY"):
        create_app(config)


def test_every_email_template_starts_with_a_subject(app_ctx):
    import os
    folder = os.path.join(app_ctx.root_path, "templates", "emails")
    for name in os.listdir(folder):
        text = open(os.path.join(folder, name)).read()
        assert text.startswith("Subject: "), name


def test_many_emails_go_out_in_batches_and_all_arrive(app_ctx, monkeypatch):
    """A round's invitations are a few delivery jobs, not one per provider."""
    import app.jobs as jobs
    from app.email import BATCH_SIZE, send_emails

    class U:
        full_name = "Provider admin"
    queued = []
    real = jobs.enqueue
    monkeypatch.setattr(jobs, "enqueue", lambda func, *a, **k: (queued.append(func), real(func, *a, **k)))
    count = BATCH_SIZE * 2 + 5
    send_emails((f"admin{i}@example.com", "reset_password", {"user": U(), "link": f"http://x/{i}"})
                for i in range(count))
    assert queued == ["app.jobs.email.deliver_batch"] * 3
    assert len(outbox()) == count
    assert "http://x/7" in outbox("admin7@example.com")[0].body


def test_a_message_the_backend_refuses_is_queued_again_alone(app_ctx, monkeypatch):
    from flask import current_app

    from app.jobs.email import deliver_batch
    backend = current_app.extensions["email_backend"]
    real_send = backend.send

    def flaky(to, subject, body, template):
        if to == "bad@example.com" and not retried:
            retried.append(to)
            raise ConnectionError("Notify is down")
        real_send(to, subject, body, template)
    retried = []
    monkeypatch.setattr(backend, "send", flaky)
    deliver_batch([("a@example.com", "S", "B", "t"), ("bad@example.com", "S", "B", "t"),
                   ("c@example.com", "S", "B", "t")])
    assert sorted(e.to for e in outbox()) == ["a@example.com", "bad@example.com", "c@example.com"]
