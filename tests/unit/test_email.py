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
