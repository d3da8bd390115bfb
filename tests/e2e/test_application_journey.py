"""A new provider's whole journey, in a real browser: from creating an account to
a submitted application for Lot 1 (Independent fostering).

Everything is done through the pages, with the labels and roles a screen
reader would announce, so a field that loses its label breaks the test.
"""
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from app.domain.applications import today as london_today
from tests.e2e.helpers import (assert_accessible, fill_organisation, minimal_pdf, read_outbox,
                               read_outbox_link, register, sign_in, unique_email)

pytestmark = pytest.mark.e2e

LOT = "Lot 1: Independent fostering"
SETTING = "Brightwater North"
CEILING_PRICES = {
    "Standard foster care (0–4)": "925.00",
    "Standard foster care (5–10)": "980.00",
    "Standard foster care (11–17)": "1,050.00",
    "Complex needs foster care": "1450.00",
    "Parent and child (fostering)": "1,875.50",
    "Solo placement": "2300",
}
SERVICE_RATES = {
    "Additional 1:1 support worker": "28.50",
    "Therapeutic session": "85.00",
    "Mileage beyond 20 miles a day": "0.45",
}
QUALITY_ANSWERS = {
    "Safeguarding": "Every carer is trained in safeguarding before approval and every year "
                    "after. A missing child is reported to the police and the placing "
                    "authority at once, and a return interview follows within three days.",
    "Outcomes": "Each child has a supervising social worker and an education lead. We track "
                "attendance, health appointments and wellbeing scores every month. One young "
                "person moved from a part-time timetable to full GCSE courses in a year.",
    "Matching and stability": "We match on the child's needs, culture and school first. "
                              "Carers get support within 24 hours when a placement is under "
                              "strain.",
    "Working with the council": "We share monthly reports with social workers and attend "
                                "every review. Virtual schools receive termly attendance "
                                "figures.",
}


def _company_number() -> str:
    # Company numbers are unique and the browser tests share one database.
    return f"{uuid.uuid4().int % 10**8:08d}"


def _new_provider(page: Page, app, full_name: str, email: str, organisation: str) -> None:
    """Create an account, confirm it by email, sign in and register the organisation."""
    register(page, full_name, email)
    page.goto(read_outbox_link(app, email, "confirm_email"))
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    sign_in(page, email)
    expect(page).to_have_url(re.compile(r"/organisation/new$"))
    fill_organisation(page, organisation, _company_number(), email)
    expect(page).to_have_url(re.compile(r"/applications/$"))


def _fill_date(group: Locator, when: date) -> None:
    group.get_by_label("Day").fill(str(when.day))
    group.get_by_label("Month").fill(str(when.month))
    group.get_by_label("Year").fill(str(when.year))


def _add_fostering_setting(page: Page, name: str, judged_on: date) -> None:
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("button", name="Add a setting").click()
    page.get_by_label("Name of the setting").fill(name)
    page.get_by_label("Independent fostering agency branch").check()
    page.get_by_label("Ofsted unique reference number (URN)").fill("SC123456")
    page.get_by_label("Good", exact=True).check()
    _fill_date(page.get_by_role("group", name="Date of the latest Ofsted judgement"), judged_on)
    # By id, not label: these three boxes have no label (see
    # test_setting_number_fields_have_labels below).
    page.get_by_label("Registered places", exact=True).fill("12")
    page.get_by_label("Youngest age accepted", exact=True).fill("0")
    page.get_by_label("Oldest age accepted", exact=True).fill("17")
    page.get_by_label("Any", exact=True).check()
    page.get_by_label("Sibling groups").check()
    page.get_by_label("Postcode of the setting").fill("E15 1AA")
    page.get_by_role("button", name="Save setting").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_text(f"{name} has been added.")).to_be_visible()


def _pdf(name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": minimal_pdf(name)}


def _upload(page: Page, filename: str, *, insurer: str | None = None, cover: str | None = None,
            expires_on: date | None = None) -> None:
    """On an upload page: choose the file, give its details, upload, land on the library."""
    page.get_by_label("Upload a file").set_input_files(_pdf(filename))
    if insurer:
        page.get_by_label("Insurer").fill(insurer)
        page.get_by_label("Policy number").fill(f"POL-{uuid.uuid4().hex[:8].upper()}")
        page.get_by_label("Cover amount").fill(cover)
    if expires_on:
        _fill_date(page.get_by_role("group", name=re.compile(r"^Expiry date")), expires_on)
    page.get_by_role("button", name="Upload file").click()
    expect(page).to_have_url(re.compile(r"/evidence/$"))
    expect(page.get_by_text("uploaded. We will check it")).to_be_visible()
    expect(page.get_by_role("link", name=filename)).to_be_visible()


def _task(page: Page, title: str) -> Locator:
    """A row of the task list (the header's navigation has an 'Evidence' link too)."""
    return page.get_by_role("main").get_by_role("listitem").filter(
        has=page.get_by_role("link", name=title, exact=True))


def _open_task(page: Page, title: str) -> None:
    _task(page, title).get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def _save_section(page: Page, title: str) -> None:
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text(f"{title}: your answers are saved.")).to_be_visible()
    expect(_task(page, title)).to_contain_text("Completed")


def _apply_and_submit(page: Page, app) -> tuple[str, str]:
    """Everything a new provider does, from /register to the confirmation page.
    Returns the email address and the application's reference."""
    today = date.today()
    email = unique_email("journey")
    _new_provider(page, app, "Amira Khan", email, "Brightwater Fostering Ltd")

    # --- A setting, then the evidence every application reuses.
    _add_fostering_setting(page, SETTING, judged_on=today - timedelta(days=200))

    page.get_by_role("link", name="Evidence", exact=True).click()
    expect(page.get_by_role("heading", name="Your evidence")).to_be_visible()
    next_year = today + timedelta(days=365)
    for kind, filename, cover in [
            ("Public liability insurance", "public-liability.pdf", "£5,000,000"),
            ("Employer's liability insurance", "employers-liability.pdf", "10,000,000"),
            ("Professional indemnity insurance", "professional-indemnity.pdf", "5000000")]:
        page.get_by_role("link", name=f"Upload {kind}", exact=True).click()
        expect(page.get_by_role("heading", name=f"Upload your {kind[0].lower()}{kind[1:]}")
               ).to_be_visible()
        _upload(page, filename, insurer="Acme Mutual", cover=cover, expires_on=next_year)
    page.get_by_role("link", name="Upload Safeguarding policy", exact=True).click()
    _upload(page, "safeguarding-policy.pdf")
    # The other way in: say what the document is first.
    page.get_by_role("link", name="Upload a document").click()
    page.get_by_label("Latest accounts").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Upload your latest accounts")).to_be_visible()
    _upload(page, "accounts-2025.pdf")
    page.get_by_role("link", name=f"Upload Ofsted registration certificate for {SETTING}",
                     exact=True).click()
    _upload(page, "ofsted-certificate.pdf")
    expect(page.get_by_text("You have not uploaded")).to_have_count(0)

    # --- Start an application for Lot 1.
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("button", name="Start a new application").click()
    page.get_by_role("checkbox", name=LOT).check()
    page.get_by_role("button", name="Start application").click()
    expect(page.get_by_role("heading", name="Your application")).to_be_visible()
    expect(page.get_by_text(f"You are applying for {LOT}.")).to_be_visible()
    expect(_task(page, "Evidence")).to_contain_text("Completed")  # uploaded beforehand
    expect(page.get_by_role("main").get_by_role("listitem").filter(has_text="Check your answers")
           ).to_contain_text("Cannot start yet")
    assert_accessible(page)

    _open_task(page, "Organisation details")
    expect(page.get_by_text("Brightwater Fostering Ltd")).to_be_visible()
    page.get_by_role("button", name="Confirm these details").click()
    expect(_task(page, "Organisation details")).to_contain_text("Completed")

    _open_task(page, "Declarations")
    answers_no = page.get_by_role("radio", name="No", exact=True)
    expect(answers_no).to_have_count(9)
    for radio in answers_no.all():
        radio.check()
    _save_section(page, "Declarations")

    _open_task(page, "Lots and settings")
    page.get_by_role("group", name=f"Settings offered under {LOT}").get_by_role(
        "checkbox", name=SETTING).check()
    _save_section(page, "Lots and settings")

    # --- Ceiling prices: mistakes first, then the right amounts.
    _open_task(page, "Ceiling prices")
    for label, price in CEILING_PRICES.items():
        page.get_by_label(label, exact=True).fill(price)
    page.get_by_label("Standard foster care (0–4)").fill("abc")
    page.get_by_label("Solo placement").fill("30000")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_title(re.compile(r"^Error: Ceiling prices"))
    summary = page.get_by_role("alert").filter(
        has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link")).to_have_text([
        "Weekly price for Standard foster care (0–4) must be an amount in pounds and pence, "
        "like 1250.00",
        "Weekly price for Solo placement must be £25,000 or less",
    ])
    expect(page.get_by_label("Standard foster care (0–4)")).to_have_value("abc")
    expect(page.get_by_label("Solo placement")).to_have_value("30000")
    expect(page.get_by_label("Complex needs foster care")).to_have_value("1450.00")
    expect(page.get_by_text("We have saved the answers that are correct")).to_be_visible()
    assert_accessible(page)
    # The summary's link takes the person to the field.
    summary.get_by_role("link", name=re.compile("^Weekly price for Solo placement")).click()
    expect(page.get_by_label("Solo placement")).to_be_focused()
    for label in ("Standard foster care (0–4)", "Solo placement"):
        page.get_by_label(label, exact=True).fill(CEILING_PRICES[label])
    _save_section(page, "Ceiling prices")

    # --- Additional services: some rates and one item of our own (added with htmx).
    _open_task(page, "Additional services")
    for label, rate in SERVICE_RATES.items():
        page.get_by_label(label, exact=True).fill(rate)
    expect(page.get_by_text("You have not added any services of your own")).to_be_visible()
    page.get_by_role("button", name="Add another item").click()
    item = page.get_by_role("group", name="Item 1")
    item.get_by_label("Service").fill("Weekend respite care")
    item.get_by_label("Unit").select_option(label="per day")
    item.get_by_label("Rate").fill("150.00")
    # The rates typed before the fragment was swapped are still there.
    expect(page.get_by_label("Therapeutic session")).to_have_value("85.00")
    _save_section(page, "Additional services")

    _open_task(page, "Standard terms")
    page.get_by_label("I accept these terms").check()
    _save_section(page, "Standard terms")

    _open_task(page, "Evidence")
    expect(page.get_by_text("Your evidence meets the requirements")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^Public liability insurance"))
           ).to_contain_text("Cover £5,000,000.00")
    page.get_by_role("button", name="Return to your application").click()
    expect(_task(page, "Evidence")).to_contain_text("Completed")

    # --- Quality questions, with the live word count fetched by htmx as we type.
    _open_task(page, "Quality questions")
    for title, text in QUALITY_ANSWERS.items():
        answer = page.get_by_label(title, exact=True)
        # The counts are in the order of the questions; each starts at its word limit.
        count = page.get_by_text(re.compile(r"^You have \d+ words? (remaining|too many)$")
                                 ).nth(list(QUALITY_ANSWERS).index(title))
        expect(answer).to_have_value("")
        limit = int(re.search(r"\d+", count.inner_text()).group(0))
        expect(answer).to_have_accessible_description(re.compile(f"Use up to {limit} words"))
        *start, last = text.split(" ")
        answer.fill(" ".join(start))
        with page.expect_response(re.compile(r"/quality/\d+/word-count$")):
            answer.press_sequentially(f" {last}")
        expect(count).to_have_text(f"You have {limit - len(text.split())} words remaining")
    _save_section(page, "Quality questions")

    # --- Check answers, declare, submit.
    expect(page.get_by_text("You have completed 8 of 8 sections")).to_be_visible()
    _open_task(page, "Check your answers")
    # The title is longer than the task's name.
    expect(page.get_by_role("heading", name="Check your answers before submitting")
           ).to_be_visible()
    expect(page.get_by_text("You cannot submit your application yet")).to_have_count(0)
    expect(page.get_by_text("£925.00 a week")).to_be_visible()
    expect(page.get_by_text("£150.00 per day")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Your full name").fill("Amira Khan")
    page.get_by_label("I confirm the information is true and complete").check()
    page.get_by_role("button", name="Submit application").click()

    expect(page.get_by_role("heading", name="Application submitted")).to_be_visible()
    panel = page.get_by_role("main").get_by_text("Your reference number")
    expect(panel).to_contain_text(re.compile(r"DPS-\d{4}-\d{6}"))
    reference = re.search(r"DPS-\d{4}-\d{6}", panel.inner_text()).group(0)
    assert reference.startswith(f"DPS-{london_today().year}-")

    return email, reference


@dataclass
class Submitted:
    page: Page  # signed in as the provider who applied
    email: str
    reference: str
    confirmation_url: str


@pytest.fixture(scope="module")
def submitted(browser, live_server) -> Submitted:
    """The whole journey, once per module: the journey test checks its outcome,
    and the test of a bug seen on the confirmation page reuses it."""
    context = browser.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        email, reference = _apply_and_submit(page, live_server.app)
        yield Submitted(page, email, reference, page.url)
    finally:
        context.close()


def test_new_provider_applies_for_lot_1_and_submits(submitted, live_server):
    """Register, confirm, add a setting, upload the evidence, complete every
    section of a Lot 1 application and submit it (the steps: _apply_and_submit)."""
    page, email, reference = submitted.page, submitted.email, submitted.reference
    page.goto("/applications/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(reference)))
    expect(row).to_contain_text("Submitted")
    expect(row).to_contain_text(LOT)

    emails = read_outbox(live_server.app, email, "application_submitted")
    assert len(emails) == 1
    subject, body = emails[0]
    assert subject == f"Application {reference} received"
    assert f"Reference: {reference}" in body and LOT in body

    # Submitted, it can be read but no longer changed.
    row.get_by_role("link", name=re.compile(reference)).click()
    expect(page.get_by_role("heading", name=f"Application {reference}")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Change"))).to_have_count(0)


def test_setting_number_fields_have_labels(submitted):
    page = submitted.page
    page.goto("/settings/new")
    expect(page.get_by_label("Name of the setting")).to_be_visible()
    for label in ("Registered places", "Youngest age accepted", "Oldest age accepted"):
        expect(page.get_by_label(label, exact=True)).to_be_visible(timeout=1000)


def test_confirmation_panel_shows_the_reference(submitted):
    page = submitted.page
    page.goto(submitted.confirmation_url)
    panel = page.locator(".govuk-panel")
    expect(panel.locator("strong")).to_have_text(submitted.reference)
    expect(panel).not_to_contain_text("<strong>")


def test_success_banner_shows_its_message_as_text(page, live_server):
    email = unique_email("banner")
    register(page, "Ola Banner", email)
    page.goto(read_outbox_link(live_server.app, email, "confirm_email"))
    heading = page.locator(".govuk-notification-banner__heading")
    expect(heading).to_have_text(re.compile(r"^Your email address is confirmed"))
    expect(page.locator(".govuk-notification-banner")).not_to_contain_text("<p")


def test_journey_works_without_javascript(new_context, live_server):
    """Uploads post as plain forms, "Add another item" reloads the page keeping what
    was typed, and validation errors come from the server."""
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    email = unique_email("nojs")
    _new_provider(page, live_server.app, "Nia Jones", email, "Nojs Fostering Ltd")
    _add_fostering_setting(page, "Nojs Branch", judged_on=date.today() - timedelta(days=90))

    page.get_by_role("link", name="Evidence", exact=True).click()
    page.get_by_role("link", name="Upload Safeguarding policy", exact=True).click()
    _upload(page, "nojs-safeguarding.pdf")

    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("button", name="Start a new application").click()
    page.get_by_role("checkbox", name=LOT).check()
    page.get_by_role("button", name="Start application").click()

    _open_task(page, "Ceiling prices")
    page.get_by_label("Standard foster care (0–4)").fill("0")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.get_by_label("Standard foster care (0–4)")).to_have_value("0")
    page.get_by_role("link", name="Back to your application").click()

    _open_task(page, "Additional services")
    page.get_by_label("Therapeutic session", exact=True).fill("85.00")
    page.get_by_role("button", name="Add another item").click()
    expect(page.get_by_role("group", name="Item 1")).to_be_visible()
    expect(page.get_by_label("Therapeutic session")).to_have_value("85.00")
    context.close()
