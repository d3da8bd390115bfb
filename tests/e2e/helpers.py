"""Steps shared by the browser tests: what a person does, in a few calls."""
import re
import uuid

import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import OutboxEmail

PASSWORD = "correct horse battery staple"
_axe = Axe()


def unique_email(prefix: str = "user") -> str:
    """The browser tests share one database, so every account needs its own address."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def read_outbox_link(app: Flask, to: str, template: str | None = None) -> str:
    """The first link in the newest email to `to` (optionally of one template)."""
    with app.app_context():
        query = sa.select(OutboxEmail.body).where(OutboxEmail.to == to)
        if template:
            query = query.where(OutboxEmail.template == template)
        body = db.session.execute(query.order_by(OutboxEmail.id.desc()).limit(1)).scalar()
        db.session.remove()
    assert body is not None, f"no email to {to} in the outbox"
    match = re.search(r"https?://\S+", body)
    assert match, f"no link in the email to {to}:\n{body}"
    return match.group(0)


def register(page: Page, full_name: str, email: str, password: str = PASSWORD) -> None:
    page.goto("/register")
    page.get_by_label("Full name").fill(full_name)
    page.get_by_label("Work email address").fill(email)
    page.get_by_label("Create a password").fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def assert_accessible(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> None:
    """Run axe-core on the current page; fail on violations of these impacts.

    axe is injected with page.evaluate because the CSP blocks add_script_tag.
    """
    violations = [v for v in _axe.run(page).response["violations"] if v["impact"] in impacts]
    assert not violations, f"accessibility problems on {page.url}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in violations)


def fill_organisation(page: Page, legal_name: str, company_number: str,
                      contact_email: str) -> None:
    """Complete /organisation/new as a new provider administrator would."""
    page.get_by_label("Legal name").fill(legal_name)
    page.get_by_label("Companies House number").fill(company_number)
    page.get_by_label("Address line 1").fill("12 High Street")
    page.get_by_label("Town or city").fill("Stratford")
    page.get_by_label("Postcode", exact=True).fill("E15 4QZ")
    page.get_by_label("Full name").fill("Amira Khan")
    page.get_by_label("Phone number").fill("020 7946 0000")
    page.get_by_label("Email address").fill(contact_email)
    page.get_by_role("button", name="Save and continue").click()


def read_outbox(app: Flask, to: str, template: str) -> list[tuple[str, str]]:
    """(subject, body) of every email of one template sent to `to`, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxEmail.subject, OutboxEmail.body)
            .where(OutboxEmail.to == to, OutboxEmail.template == template)
            .order_by(OutboxEmail.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def minimal_pdf(title: str) -> bytes:
    """A valid one-page PDF of a few hundred bytes, with a correct xref table."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 72 770 Td ({text}) Tj ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return out
