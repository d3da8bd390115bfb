"""A new provider finds the service, creates an account and registers its organisation."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (assert_accessible, fill_organisation, read_outbox_link, register,
                               sign_in, unique_email)

pytestmark = pytest.mark.e2e


def test_new_provider_registers_confirms_signs_in_and_registers_organisation(page, live_server):
    email = unique_email("amira")
    register(page, "Amira Khan", email)

    page.goto(read_outbox_link(live_server.app, email, "confirm_email"))
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()

    sign_in(page, email)
    expect(page).to_have_url(re.compile(r"/organisation/new$"))
    expect(page.get_by_role("heading", name="Register your organisation")).to_be_visible()

    fill_organisation(page, "Brightwater Fostering Ltd", "12345678", email)
    expect(page).to_have_url(re.compile(r"/applications/$"))


def test_sign_in_works_without_javascript(new_context, live_server):
    email = unique_email("nojs")
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    register(page, "Sam Jones", email)
    page.goto(read_outbox_link(live_server.app, email, "confirm_email"))

    # A wrong password first: the error is shown by the server, not by script.
    sign_in(page, email, "not the right password")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: Sign in"))

    sign_in(page, email)
    expect(page).to_have_url(re.compile(r"/organisation/new$"))


@pytest.mark.parametrize("path", ["/", "/register", "/sign-in"])
def test_public_pages_have_no_serious_accessibility_problems(page, path):
    page.goto(path)
    assert_accessible(page)


def test_sign_in_errors_have_no_serious_accessibility_problems(page):
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert_accessible(page)
