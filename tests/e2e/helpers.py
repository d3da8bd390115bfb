"""Steps shared by the browser tests: what a person does, in a few calls."""
import re
import time
import uuid
from urllib.parse import urlparse

import pyotp
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from app.domain import second_factor
from app.extensions import db
from app.models import OutboxEmail, User

PASSWORD = "correct horse battery staple"
_axe = Axe()
# Staff authenticator keys, as a person's app would keep them: learned when
# sign_in sets one up (the set-up page shows it), by email address. With the
# app at hand, sign_in reads the key from the database instead.
_authenticators: dict[str, str] = {}
_last_steps: dict[str, int] = {}


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


def sign_in(page: Page, email: str, password: str = PASSWORD, *, app: Flask | None = None) -> None:
    """Sign in with the form. Staff then pass the second factor as a person
    with an authenticator app would: set it up the first time (reading the key
    off the page, saving the recovery codes), or enter its current code. Pass
    `app` (live_server.app) to sign in as staff whose app was set up elsewhere."""
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    path = urlparse(page.url).path
    if path == "/sign-in/second-factor/set-up":
        secret = page.locator("#second-factor-key").inner_text().replace(" ", "")
        _authenticators[email] = secret
        _enter_code(page, email, secret, last_step=None)
        expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
        page.get_by_role("button", name="I have saved my recovery codes").click()
        page.wait_for_load_state()
    elif path == "/sign-in/second-factor":
        secret, last_step = _authenticator(email, app)
        _enter_code(page, email, secret, last_step=last_step)


def _authenticator(email: str, app: Flask | None) -> tuple[str, int | None]:
    if app is not None:
        with app.app_context():
            user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
            found = (user.totp_secret, user.totp_last_step)
            db.session.remove()
        return found
    assert email in _authenticators, (
        f"{email} has an authenticator set up outside sign_in: pass app=live_server.app")
    return _authenticators[email], _last_steps.get(email)


def _enter_code(page: Page, email: str, secret: str, last_step: int | None) -> None:
    """The code for the current 30-second step, or, if that was used already
    (a code works once), the next step's, which the server accepts early."""
    used = [s for s in (last_step, _last_steps.get(email)) if s is not None]
    now = time.time()
    step = second_factor.step_at(now)
    if used and max(used) >= step:
        step = max(used) + 1
        if step > second_factor.step_at(now) + 1:  # both used: wait for the clock
            time.sleep((step - 1) * second_factor.STEP_SECONDS - now + 0.5)
    code = pyotp.TOTP(secret).generate_otp(step)
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name=re.compile("^(Continue|Confirm and continue)$")).click()
    page.wait_for_load_state()
    _last_steps[email] = step


def _is_conditional_reveal(node: dict) -> bool:
    html = node.get("html", "")
    return (("govuk-radios__input" in html or "govuk-checkboxes__input" in html)
            and "aria-controls" in html and "aria-expanded" in node.get("failureSummary", ""))


def _govuk_conditional_reveal_only(violation: dict) -> bool:
    """GOV.UK Frontend sets aria-expanded on a radio or checkbox that reveals a
    conditional question, on purpose (screen readers announce the reveal);
    axe's aria-allowed-attr reports it. Only that exact finding is set aside:
    any other node of the same rule still fails."""
    return violation["id"] == "aria-allowed-attr" and all(
        _is_conditional_reveal(node) for node in violation["nodes"])


def assert_accessible(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> None:
    """Run axe-core on the current page; fail on violations of these impacts.

    axe is injected with page.evaluate because the CSP blocks add_script_tag.
    """
    violations = [v for v in _axe.run(page).response["violations"]
                  if v["impact"] in impacts and not _govuk_conditional_reveal_only(v)]
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
