"""The provider's fee review through its pages: prices prefilled, the uplift
worked out as it types (htmx fragment) and without JavaScript, errors kept
with what was typed, the cap and guidance rules, a decrease, the deadline
and an extension, submitting once, a colleague's save in between, and who
may see a submission."""
import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from app.domain import fee_review
from app.domain.states import Role, SubmissionStatus
from app.extensions import db
from app.filters import LONDON
from app.models import AuditEvent
from tests.factories import count_statements, login, outbox
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, quick_user, submission_of)
from tests.factories_resubmission import form_data, fresh, lines_of, text_of

OPENED = datetime(2027, 1, 10, 10, 0, tzinfo=LONDON)   # closes 31 January, effective 1 April
HX = {"HX-Request": "true", "HX-Target": "uplift-summary",
      "HX-Current-URL": "http://localhost/fee-review/1"}


@pytest.fixture
def clock():
    with time_machine.travel(OPENED, tick=False) as traveller:
        yield traveller


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray")


@pytest.fixture
def home(dps, clock):
    """A children's home operator on Lot 2: two weekly fees and one hourly rate."""
    return member(dps.lots[1], weekly=("4000", "3600"), rates=("30",))


@pytest.fixture
def round_(dps, manager, home, clock):
    rnd = new_round(dps, manager, [dps.lots[1]], guidance_method="model",
                    guidance_uplift=None, staff_cost_weight=D("70"), nlw_change=D("4.1"),
                    cpih=D("3.4"), cap_uplift=D("8"),
                    message="Tell us about your staffing costs.")
    open_and_invite(rnd, manager, OPENED.date())
    return rnd


@pytest.fixture
def submission(round_, home):
    return submission_of(round_, home)


@pytest.fixture
def provider_admin(home):
    return home.users[0]


@pytest.fixture
def signed_in(client, provider_admin):
    login(client, provider_admin)
    return client


def sign_in_again(client, user) -> None:
    """After the clock moves on by days, the old session has long timed out."""
    with client.session_transaction() as session:
        session.clear()
    login(client, user)


def events(action: str) -> list[AuditEvent]:
    return db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)
                              ).scalars().all()


# ------------------------------------------------------------------ the page

def test_the_page_prefills_every_current_price_grouped_by_lot_and_explains_the_guidance(
        signed_in, submission):
    r = signed_in.get(f"/fee-review/{submission.id}")
    assert r.status_code == 200
    page = text_of(r)
    assert "Lot 2: Children's residential homes" in page
    # Weekly ceiling prices first, then additional services, each with its current price.
    weekly = page.index("Weekly ceiling prices")
    services = page.index("Additional services")
    assert weekly < page.index("Residential (single-bed home)") < services
    assert services < page.index("Additional 1:1 staffing")
    assert "£4,000.00 per week" in page and "£3,600.00 per week" in page
    assert "£30.00 per hour" in page
    # The guidance, with the model's weights and indices.
    assert "Expected uplift (guidance) 3.89%" in page
    assert "70% staff costs × National Living Wage change of 4.10%" in page
    assert "30% other costs × CPIH of 3.40% = 3.89%" in page
    assert "A new price more than 8.00% above its current price is refused" in page
    assert "Deadline 31 January 2027" in page
    assert "New prices apply from 1 April 2027" in page
    assert "Tell us about your staffing costs." in page
    # Every line has a new-price input, empty (no change asked yet), with a £ prefix.
    html = r.get_data(as_text=True)
    for line in lines_of(submission):
        field = re.search(rf'<input[^>]*name="line-{line.id}-amount"[^>]*>', html).group(0)
        assert 'value=""' in field or "value=" not in field
    assert html.count("govuk-input__prefix") == 3
    assert "No change" in page
    # The live calculation: htmx posts what is typed and swaps only the figures.
    assert f'hx-post="/fee-review/{submission.id}/calculate"' in html
    assert 'hx-trigger="input changed delay:400ms"' in html
    assert 'hx-target="#uplift-summary"' in html


def test_the_live_calculation_returns_only_the_figures(signed_in, submission):
    first, second, rate = lines_of(submission)
    data = form_data(submission, ["4200", "3500.00", ""], action="")
    r = signed_in.post(f"/fee-review/{submission.id}/calculate", data=data, headers=HX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="uplift-summary">')
    # No input is sent back, so the one being typed in keeps focus and text.
    assert "<input" not in html and "<form" not in html
    cell = re.search(rf'<td id="uplift-line-{first.id}"[^>]*hx-swap-oob="true"[^>]*>(.*?)</td>',
                     html, re.S).group(1)
    assert "+5.00%" in cell and "Above guidance" in cell
    cell = re.search(rf'<td id="uplift-line-{second.id}"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert "-2.78%" in cell and "Decrease" in cell
    assert "No change" in re.search(rf'<td id="uplift-line-{rate.id}"[^>]*>(.*?)</td>',
                                    html, re.S).group(1)
    # Overall, weighted by current weekly prices: 7,600 -> 7,700 = +1.32%.
    assert "Weekly ceiling prices: +1.32% overall" in text_of(r)
    # The line above guidance now asks for its own justification: its row arrives.
    assert f'<tr id="justification-line-{first.id}"' in html
    assert f'name="line-{first.id}-justification"' in html
    # ... but a row already on the page is never sent back (someone may be typing in it).
    data[f"line-{first.id}-justification"] = "Agency staff"
    r = signed_in.post(f"/fee-review/{submission.id}/calculate", data=data, headers=HX)
    assert f"justification-line-{first.id}" not in r.get_data(as_text=True)
    # Nothing is saved by calculating.
    assert all(line.proposed_amount is None for line in lines_of(fresh(submission)))


def test_the_live_calculation_flags_a_price_above_the_cap_and_an_unreadable_one(
        signed_in, submission):
    first, second, _ = lines_of(submission)
    r = signed_in.post(f"/fee-review/{submission.id}/calculate",
                       data=form_data(submission, ["4400", "lots"], action=""), headers=HX)
    html = r.get_data(as_text=True)
    assert "<input" not in html
    assert "Above the cap" in re.search(rf'<td id="uplift-line-{first.id}"[^>]*>(.*?)</td>',
                                        html, re.S).group(1)
    assert "Not a price" in re.search(rf'<td id="uplift-line-{second.id}"[^>]*>(.*?)</td>',
                                      html, re.S).group(1)
    assert "will be refused" in text_of(r)


def test_without_javascript_calculate_shows_the_figures_and_keeps_what_was_typed(
        signed_in, submission):
    first, second, rate = lines_of(submission)
    data = form_data(submission, ["4100", "", "31.50"], action="calculate",
                     justification="Our night staff costs rose.")
    r = signed_in.post(f"/fee-review/{submission.id}", data=data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<form" in html and 'value="4100"' in html and 'value="31.50"' in html
    assert "Our night staff costs rose." in html
    page = text_of(r)
    assert "+2.50%" in page and "+5.00%" in page
    # Overall on weekly fees only (not the hourly rate): 7,600 -> 7,700 = +1.32%.
    assert "Weekly ceiling prices: +1.32% overall" in page
    # The calculation from the fragment route without htmx is the same page.
    r = signed_in.post(f"/fee-review/{submission.id}/calculate", data=data)
    assert r.status_code == 200 and 'value="4100"' in r.get_data(as_text=True)
    assert "+1.32% overall" in text_of(r)
    assert fresh(submission).status is SubmissionStatus.INVITED
    assert all(line.proposed_amount is None for line in lines_of(submission))


# ------------------------------------------------------------------ errors

def test_errors_are_summarised_linked_to_their_field_and_keep_what_was_typed(
        signed_in, submission):
    first, second, rate = lines_of(submission)
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4,1OO", "3650", "-5"], justification="Pay rises"))
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "govuk-error-summary" in html and "<title>Error:" in html
    assert f'href="#line-{first.id}-amount"' in html
    assert f'href="#line-{rate.id}-amount"' in html
    page = text_of(r)
    assert "must be an amount in pounds and pence" in page
    assert "must be more than £0" in page
    # What was typed stays, right or wrong.
    assert 'value="4,1OO"' in html and 'value="3650"' in html and 'value="-5"' in html
    assert "Pay rises" in html
    assert fresh(submission).status is SubmissionStatus.INVITED
    assert all(line.proposed_amount is None for line in lines_of(submission))


def test_a_price_above_the_cap_is_refused_on_save_and_nothing_is_saved(signed_in, submission):
    first, *_ = lines_of(submission)
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4400", "3700"], justification="Costs"))
    assert r.status_code == 400
    page = text_of(r)
    # 4,000 x 1.08 = 4,320: the most the cap lets through.
    assert "cap of 8.00 %" in page and "Enter £4,320.00 or less" in page
    assert f'href="#line-{first.id}-amount"' in r.get_data(as_text=True)
    assert 'value="3700"' in r.get_data(as_text=True)
    assert all(line.proposed_amount is None for line in lines_of(fresh(submission)))


def test_above_guidance_is_saved_as_a_draft_with_a_warning_then_needs_a_justification(
        signed_in, submission):
    first, *_ = lines_of(submission)
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(submission, ["4200"]))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/fee-review/{submission.id}")
    assert fresh(submission).status is SubmissionStatus.DRAFT
    assert lines_of(submission)[0].proposed_amount == D("4200.00")
    page = signed_in.get(f"/fee-review/{submission.id}")
    text = text_of(page)
    assert "Your draft is saved" in text
    assert "you cannot submit it yet" in text
    assert "Explain why you ask for more than the guidance of 3.89 %" in text
    # The line's own justification box is shown, since the line is above guidance.
    assert f'name="line-{first.id}-justification"' in page.get_data(as_text=True)
    # Continuing without a justification: saved, but refused with the reason.
    r = signed_in.post(f"/fee-review/{submission.id}",
                       data=form_data(submission, ["4200"], action="check"))
    assert r.status_code == 400
    assert f'href="#line-{first.id}-justification"' in r.get_data(as_text=True)
    # The check page refuses to offer Submit while it is missing.
    check = signed_in.get(f"/fee-review/{submission.id}/check")
    assert "You cannot submit yet" in text_of(check)
    assert "Submit new prices" not in text_of(check)
    # The overall justification covers the line.
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4200"], action="check",
        justification="Agency staff cover while we recruit."))
    assert r.status_code == 303 and r.headers["Location"].endswith("/check")
    check = signed_in.get(f"/fee-review/{submission.id}/check")
    text = text_of(check)
    assert "Residential (single-bed home)" in text and "£4,200.00" in text and "+5.00%" in text
    assert "Above guidance" in text and "Agency staff cover while we recruit." in text
    assert "2 other prices stay as they are." in text
    r = signed_in.post(f"/fee-review/{submission.id}/submit",
                       data={"version": str(fresh(submission).version)})
    assert r.status_code == 303
    assert fresh(submission).status is SubmissionStatus.SUBMITTED


def test_a_line_justification_is_kept_for_that_line(signed_in, submission):
    first, *_ = lines_of(submission)
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4200"], {0: "Waking night cover for a new child."}, action="check"))
    assert r.status_code == 303
    line = lines_of(fresh(submission))[0]
    assert line.justification == "Waking night cover for a new child."
    assert "Waking night cover for a new child." in text_of(
        signed_in.get(f"/fee-review/{submission.id}/check"))


def test_a_decrease_is_allowed(signed_in, submission, provider_admin):
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["", "3420"], action="check"))
    assert r.status_code == 303
    check = signed_in.get(f"/fee-review/{submission.id}/check")
    assert "-5.00%" in text_of(check)
    r = signed_in.post(f"/fee-review/{submission.id}/submit",
                       data={"version": str(fresh(submission).version)})
    assert r.status_code == 303 and r.headers["Location"].endswith("/confirmation")
    confirmation = signed_in.get(r.headers["Location"])
    assert "New prices submitted" in text_of(confirmation)
    assert fresh(submission).status is SubmissionStatus.SUBMITTED
    assert [m.template for m in outbox(provider_admin.email)][-1] == "fee_review_submitted"


def test_a_provider_user_who_submits_is_sent_the_confirmation_too(client, submission, home):
    colleague = quick_user(Role.PROVIDER_USER, home)
    login(client, colleague)
    client.post(f"/fee-review/{submission.id}", data=form_data(submission, ["4100"],
                                                                 action="check"))
    r = client.post(f"/fee-review/{submission.id}/submit",
                    data={"version": str(fresh(submission).version)})
    assert r.status_code == 303
    assert [m.template for m in outbox(colleague.email)] == ["fee_review_submitted"]
    assert [m.template for m in outbox(home.users[0].email)][-1] == "fee_review_submitted"


def test_evidence_is_chosen_from_the_organisations_library(signed_in, submission, home):
    from app.models import Document
    from app.domain.reference import DocumentKind
    document = Document(provider_id=home.id, kind=DocumentKind.ACCOUNTS,
                        storage_key="accounts-2026", original_filename="accounts-2026.pdf",
                        content_type="application/pdf", size_bytes=1000, sha256="0" * 64)
    db.session.add(document)
    db.session.commit()
    page = signed_in.get(f"/fee-review/{submission.id}").get_data(as_text=True)
    assert "Latest accounts: accounts-2026.pdf" in page
    assert "/evidence/upload?next=" in page
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4100"], evidence=str(document.id)))
    assert r.status_code == 303
    assert fresh(submission).evidence_document_id == document.id


# ------------------------------------------------------------------ deadline

def test_after_the_deadline_submitting_is_refused_until_an_extension(
        signed_in, submission, provider_admin, manager, clock):
    signed_in.post(f"/fee-review/{submission.id}", data=form_data(submission, ["4100"]))
    version = str(fresh(submission).version)
    clock.move_to(datetime(2027, 2, 1, 9, 0, tzinfo=LONDON))
    sign_in_again(signed_in, provider_admin)
    page = signed_in.get(f"/fee-review/{submission.id}")
    assert page.status_code == 200
    text = text_of(page)
    assert ("The deadline for this fee review was 31 January 2027. Ask the commissioning team "
            "for an extension.") in text
    assert "How to ask for an extension" in text
    assert "<input" not in re.sub(r'<input[^>]*type="hidden"[^>]*>', "",
                                  page.get_data(as_text=True))
    # Neither saving, calculating nor submitting gets past it.
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(submission, ["4150"]))
    assert r.status_code == 409 and "was 31 January 2027" in text_of(r)
    r = signed_in.post(f"/fee-review/{submission.id}/submit", data={"version": version})
    assert r.status_code == 409 and "was 31 January 2027" in text_of(r)
    assert signed_in.get(f"/fee-review/{submission.id}/check").status_code == 302
    assert fresh(submission).status is SubmissionStatus.DRAFT
    # Asking for an extension is a message in the thread.
    r = signed_in.post(f"/fee-review/{submission.id}/messages",
                       data={"body": "Our finance lead was ill: may we have until Friday?"})
    assert r.status_code == 303
    # The commissioner grants one: the provider can submit until then.
    sub = fresh(submission)
    fee_review.grant_extension(sub, date(2027, 2, 5), "Finance lead ill", manager,
                               ctx_for(manager), date(2027, 2, 1))
    db.session.commit()
    page = signed_in.get(f"/fee-review/{submission.id}")
    assert "Deadline 5 February 2027 (extended for you)" in text_of(page)
    assert "Our finance lead was ill" in text_of(page)
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4100"], action="check"))
    assert r.status_code == 303
    r = signed_in.post(f"/fee-review/{submission.id}/submit",
                       data={"version": str(fresh(submission).version)})
    assert r.status_code == 303
    assert fresh(submission).status is SubmissionStatus.SUBMITTED


# ------------------------------------------------------------------ submit once

def test_submitting_twice_changes_the_state_once(signed_in, submission):
    signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4100"], action="check"))
    data = {"version": str(fresh(submission).version)}
    first = signed_in.post(f"/fee-review/{submission.id}/submit", data=data)
    second = signed_in.post(f"/fee-review/{submission.id}/submit", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert second.headers["Location"].endswith(f"/fee-review/{submission.id}/confirmation")
    assert len(events("fee_review_submission.submitted")) == 1
    assert fresh(submission).status is SubmissionStatus.SUBMITTED
    # And the proposal can no longer be changed.
    r = signed_in.post(f"/fee-review/{submission.id}", data=form_data(submission, ["4300"]))
    assert r.status_code == 409 and "can no longer be changed" in text_of(r)
    assert lines_of(fresh(submission))[0].proposed_amount == D("4100.00")


def test_a_colleagues_save_in_between_is_a_conflict_and_keeps_what_was_typed(
        client, signed_in, submission, home):
    stale = form_data(submission, ["4100", "3650"], justification="Mine")
    colleague = quick_user(Role.PROVIDER_USER, home)
    sub = fresh(submission)
    errors = fee_review.save_proposal(
        sub, {lines_of(sub)[0].id: fee_review.LineInput(D("4050"), "")}, "Theirs", None,
        colleague, ctx_for(colleague))
    assert errors == {}
    db.session.commit()
    r = signed_in.post(f"/fee-review/{submission.id}", data=stale)
    assert r.status_code == 409
    assert "Someone else in your organisation has changed this fee review" in text_of(r)
    html = r.get_data(as_text=True)
    assert 'value="4100"' in html and 'value="3650"' in html and "Mine" in html
    assert lines_of(fresh(submission))[0].proposed_amount == D("4050.00")
    # The page now carries the latest version: saving again is deliberate, and works.
    version = re.search(r'name="version"[^>]*value="(\d+)"', html) or \
        re.search(r'value="(\d+)"[^>]*name="version"', html)
    assert version.group(1) == str(fresh(submission).version)
    stale["version"] = version.group(1)
    assert signed_in.post(f"/fee-review/{submission.id}", data=stale).status_code == 303
    assert lines_of(fresh(submission))[0].proposed_amount == D("4100.00")


def test_a_stale_check_page_cannot_submit_prices_changed_since(
        signed_in, submission, home):
    signed_in.post(f"/fee-review/{submission.id}", data=form_data(
        submission, ["4100"], action="check"))
    version = str(fresh(submission).version)
    colleague = quick_user(Role.PROVIDER_USER, home)
    sub = fresh(submission)
    fee_review.save_proposal(sub, {lines_of(sub)[0].id: fee_review.LineInput(D("4150"), "")},
                             "", None, colleague, ctx_for(colleague))
    db.session.commit()
    r = signed_in.post(f"/fee-review/{submission.id}/submit", data={"version": version})
    assert r.status_code == 409
    assert "Check them again, then submit" in text_of(r)
    assert fresh(submission).status is SubmissionStatus.DRAFT


# ------------------------------------------------------------------ who sees what

def test_another_providers_submission_is_not_found_on_every_route(
        client, dps, round_, submission, manager):
    stranger = member(dps.lots[1])
    login(client, stranger.users[0])
    sid = submission.id
    for method, url in (("get", f"/fee-review/{sid}"), ("post", f"/fee-review/{sid}"),
                        ("post", f"/fee-review/{sid}/calculate"),
                        ("get", f"/fee-review/{sid}/check"), ("post", f"/fee-review/{sid}/submit"),
                        ("get", f"/fee-review/{sid}/confirmation"),
                        ("get", f"/fee-review/{sid}/respond"),
                        ("post", f"/fee-review/{sid}/respond"),
                        ("post", f"/fee-review/{sid}/messages")):
        r = getattr(client, method)(url, data={"body": "hello"} if method == "post" else None)
        assert r.status_code == 404, url
    # Its own list does not show the other organisation's review (it joined too late
    # to be invited itself).
    listing = client.get("/fee-review/")
    assert f"/fee-review/{sid}" not in listing.get_data(as_text=True)
    assert "You have not been invited to a fee review yet" in text_of(listing)


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.MANAGER, Role.ADMIN, Role.MEMBER_OFFICER])
def test_staff_cannot_use_the_provider_pages(client, submission, role):
    login(client, make_staff(role))
    assert client.get("/fee-review/").status_code == 403
    assert client.get(f"/fee-review/{submission.id}").status_code == 403
    assert client.post(f"/fee-review/{submission.id}/submit").status_code == 403


def test_signing_in_is_needed(client, submission):
    r = client.get(f"/fee-review/{submission.id}")
    assert r.status_code == 302 and "/sign-in" in r.headers["Location"]




@pytest.mark.parametrize("path", ["", "/check", "?calculate"])
def test_the_pages_query_count_does_not_grow_with_the_lines(app_ctx, dps, manager, clock, path):
    lot = dps.lots[1]
    small = member(lot, weekly=("4000",), rates=())
    large = member(lot, weekly=("4000", "3600", "3500", "4800"),
                   rates=("30", "45", "180", "90", "0.60"))
    rnd = new_round(dps, manager, [lot])
    open_and_invite(rnd, manager, OPENED.date())
    counts = []
    for provider in (small, large):
        client = app_ctx.test_client()
        login(client, provider.users[0])
        submission = submission_of(rnd, provider)
        if path == "?calculate":
            data = form_data(submission, ["4100"], action="")

            def call():
                r = client.post(f"/fee-review/{submission.id}/calculate", data=data, headers=HX)
                assert r.status_code == 200
        else:
            def call():
                r = client.get(f"/fee-review/{submission.id}{path}")
                assert r.status_code == 200
        call()  # the session and the caches settle first
        counts.append(count_statements(call))
    assert counts[0] == counts[1], counts
