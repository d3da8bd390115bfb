"""After the provider submits: the read-only view, answering a counter-offer
(accept it, or reply with another price and a message), the negotiation
thread, the agreed outcome, and the fee review panel on the dashboard."""
from datetime import date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from app.domain import fee_review
from app.domain.prices import price_on
from app.domain.states import LineDecision, Role, SubmissionStatus
from app.extensions import db
from app.filters import LONDON
from app.models import FeeReviewMessage
from tests.factories import count_statements, login, outbox
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, quick_user, submission_of)
from tests.factories_resubmission import fresh, lines_of, text_of

OPENED = datetime(2027, 1, 10, 10, 0, tzinfo=LONDON)


@pytest.fixture
def clock():
    with time_machine.travel(OPENED, tick=False) as traveller:
        yield traveller


@pytest.fixture
def manager(dps):
    return make_staff(Role.MANAGER, full_name="Helen Murray")


@pytest.fixture
def evaluator(dps):
    return make_staff(Role.EVALUATOR, full_name="Tom Okafor", email="tom@newham.example")


@pytest.fixture
def home(dps, clock):
    return member(dps.lots[1], weekly=("4000", "3600"), rates=("30",))


@pytest.fixture
def round_(dps, manager, home, clock):
    rnd = new_round(dps, manager, [dps.lots[1]], guidance_uplift=D("4"), cap_uplift=D("8"))
    open_and_invite(rnd, manager, OPENED.date())
    return rnd


@pytest.fixture
def provider_admin(home):
    return home.users[0]


@pytest.fixture
def signed_in(client, provider_admin):
    login(client, provider_admin)
    return client


@pytest.fixture
def submitted(round_, home, provider_admin):
    """Asked: single-bed 4,000 -> 4,300 (+7.5 %, above guidance), 2-3 bed
    3,600 -> 3,700 (+2.78 %), the hourly rate unchanged."""
    sub = submission_of(round_, home)
    first, second, _ = lines_of(sub)
    ctx = ctx_for(provider_admin)
    assert fee_review.save_proposal(
        sub, {first.id: fee_review.LineInput(D("4300"), "Waking night staff"),
              second.id: fee_review.LineInput(D("3700"), "")},
        "National Living Wage rise", None, provider_admin, ctx) == {}
    fee_review.submit(sub, provider_admin, ctx, OPENED.date())
    db.session.commit()
    return sub


@pytest.fixture
def countered(submitted, evaluator):
    """The evaluator accepts the 2-3 bed price and offers 4,150 for the single-bed home."""
    first, second, _ = lines_of(submitted)
    status = fee_review.decide_lines(
        submitted, {first.id: fee_review.DecisionInput(LineDecision.COUNTERED, D("4150"),
                                                       "Within guidance, as for other homes"),
                    second.id: fee_review.DecisionInput(LineDecision.ACCEPTED)},
        evaluator, ctx_for(evaluator))
    db.session.commit()
    assert status is SubmissionStatus.NEGOTIATING
    return submitted


def respond_data(submission, answers, message="") -> dict:
    data = {"version": str(fresh(submission).version), "message": message}
    for line, (choice, amount) in zip(
            [ln for ln in lines_of(submission) if ln.decision is LineDecision.COUNTERED], answers):
        data[f"line-{line.id}-response"] = choice
        data[f"line-{line.id}-amount"] = amount
    return data


# ------------------------------------------------------------------ read-only view

def test_a_submitted_review_is_shown_read_only(signed_in, submitted):
    r = signed_in.get(f"/fee-review/{submitted.id}")
    assert r.status_code == 200
    page = text_of(r)
    assert "Submitted" in page and "The commissioning team is reviewing them" in page
    assert "£4,300.00" in page and "+7.50%" in page and "Awaiting decision" in page
    # The unchanged rate was accepted as it is when submitted.
    assert "No change" in page and "Accepted" in page
    assert "<input" not in r.get_data(as_text=True).replace('type="hidden"', "").split(
        'id="messages"')[0]
    assert "New prices apply from 1 April 2027 once agreed" in page
    # A page opened before it was submitted cannot change it now.
    r = signed_in.post(f"/fee-review/{submitted.id}", data={"action": "save"})
    assert r.status_code == 409 and "can no longer be changed" in text_of(r)
    # Nothing to respond to yet.
    assert signed_in.get(f"/fee-review/{submitted.id}/respond").status_code == 302


# ------------------------------------------------------------------ counter-offers

def test_the_provider_accepts_the_counter_offer_and_its_prices_are_agreed(
        signed_in, countered, provider_admin, home, dps):
    page = signed_in.get(f"/fee-review/{countered.id}")
    text = text_of(page)
    assert "The commissioning team has made a counter-offer on 1 price." in text
    assert f"/fee-review/{countered.id}/respond" in page.get_data(as_text=True)
    r = signed_in.get(f"/fee-review/{countered.id}/respond")
    assert r.status_code == 200
    text = text_of(r)
    assert "Residential (single-bed home)" in text
    assert "You asked for £4,300.00 (+7.50%)" in text
    assert "Counter-offer £4,150.00 (+3.75%)" in text
    assert "Within guidance, as for other homes" in text
    assert "Accept the counter-offer of £4,150.00" in text
    # The price already accepted is not asked about again.
    assert "Residential (2–3 bed home)" not in text
    r = signed_in.post(f"/fee-review/{countered.id}/respond",
                       data=respond_data(countered, [("accept", "")]))
    assert r.status_code == 303
    sub = fresh(countered)
    assert sub.status is SubmissionStatus.AGREED
    assert sub.prices_from == date(2027, 4, 1)
    page = signed_in.get(f"/fee-review/{countered.id}")
    text = text_of(page)
    assert "You have accepted the counter-offer. Your new prices are agreed." in text
    assert "Your new prices are agreed. They apply from 1 April 2027." in text
    assert "Counter-offer accepted" in text and "£4,150.00" in text
    # Agreed weekly: 4,150 + 3,700 = 7,850 on 7,600 = +3.29%.
    assert "Overall uplift agreed (weekly prices) +3.29%" in text
    assert [m.template for m in outbox(provider_admin.email)][-1] == "fee_review_agreed"
    # The new price applies from the effective date, not before.
    single_bed = dps.lots[1].placement_types[0]
    assert price_on(home.id, single_bed.id, date(2027, 3, 31)).amount == D("4000.00")
    assert price_on(home.id, single_bed.id, date(2027, 4, 1)).amount == D("4150.00")


def test_accepting_a_counter_offer_above_guidance_waits_for_a_second_manager(
        signed_in, submitted, evaluator, manager):
    first, second, _ = lines_of(submitted)
    fee_review.decide_lines(
        submitted, {first.id: fee_review.DecisionInput(LineDecision.COUNTERED, D("4250"),
                                                       "Agency costs accepted in part"),
                    second.id: fee_review.DecisionInput(LineDecision.ACCEPTED)},
        evaluator, ctx_for(evaluator))
    db.session.commit()
    r = signed_in.post(f"/fee-review/{submitted.id}/respond",
                       data=respond_data(submitted, [("accept", "")]))
    assert r.status_code == 303
    sub = fresh(submitted)
    assert sub.status is SubmissionStatus.AWAITING_APPROVAL
    assert sub.agreement_proposed_by_id == evaluator.id
    page = text_of(signed_in.get(f"/fee-review/{submitted.id}"))
    assert "a second commissioning manager must approve the agreement" in page
    assert "Awaiting second approval" in page
    email = outbox(manager.email)[-1]
    assert email.template == "fee_review_approval_needed"
    assert f"/fee-reviews/{sub.round_id}/submissions/{sub.id}" in email.body


def test_the_provider_replies_with_another_price_and_a_message(
        signed_in, countered, evaluator):
    first = lines_of(countered)[0]
    # A reply needs a price, and a message explaining it.
    r = signed_in.post(f"/fee-review/{countered.id}/respond",
                       data=respond_data(countered, [("reply", "")]))
    assert r.status_code == 400
    assert f'href="#line-{first.id}-amount"' in r.get_data(as_text=True)
    assert "Enter the price you ask for Residential (single-bed home)" in text_of(r)
    r = signed_in.post(f"/fee-review/{countered.id}/respond",
                       data=respond_data(countered, [("reply", "4200")]))
    assert r.status_code == 400
    assert 'href="#message"' in r.get_data(as_text=True)
    assert 'value="4200"' in r.get_data(as_text=True)
    # No choice made at all.
    r = signed_in.post(f"/fee-review/{countered.id}/respond",
                       data={"version": str(fresh(countered).version), "message": ""})
    assert r.status_code == 400
    assert "Select whether you accept the counter-offer on Residential (single-bed home)" \
        in text_of(r)
    # A price typed without choosing is taken as a reply (so it needs the message).
    r = signed_in.post(f"/fee-review/{countered.id}/respond",
                       data=respond_data(countered, [("", "4200")]))
    assert r.status_code == 400 and 'href="#message"' in r.get_data(as_text=True)
    assert fresh(countered).status is SubmissionStatus.NEGOTIATING
    r = signed_in.post(f"/fee-review/{countered.id}/respond", data=respond_data(
        countered, [("reply", "4,200")], "Our waking night cover costs £200 more a week."))
    assert r.status_code == 303
    sub = fresh(countered)
    assert sub.status is SubmissionStatus.SUBMITTED
    line = lines_of(sub)[0]
    assert line.decision is LineDecision.PENDING and line.proposed_amount == D("4200.00")
    page = text_of(signed_in.get(f"/fee-review/{countered.id}"))
    assert "Your answer has been sent to the commissioning team." in page
    assert "Our waking night cover costs £200 more a week." in page
    # The evaluator who made the counter-offer hears of the answer.
    email = outbox(evaluator.email)[-1]
    assert email.template == "fee_review_response"
    assert f"/fee-reviews/{countered.round_id}/submissions/{countered.id}" in email.body


def test_a_colleague_answering_first_leaves_a_stale_page_refused(signed_in, countered, home):
    data = respond_data(countered, [("reply", "4250")], "We need more.")
    colleague = quick_user(Role.PROVIDER_USER, home)
    sub = fresh(countered)
    first = lines_of(sub)[0]
    assert fee_review.respond_to_counters(
        sub, {first.id: fee_review.ResponseInput(accept=True)}, "", colleague,
        ctx_for(colleague), OPENED.date()) == {}
    db.session.commit()
    r = signed_in.post(f"/fee-review/{countered.id}/respond", data=data)
    assert r.status_code == 409
    assert "can no longer be changed" in text_of(r) and "Nothing has been saved" in text_of(r)
    sub = fresh(countered)
    assert sub.status is SubmissionStatus.AGREED
    assert lines_of(sub)[0].agreed_amount == D("4150.00")


# ------------------------------------------------------------------ the thread

def test_messages_are_posted_to_the_thread_once(signed_in, submitted, provider_admin):
    r = signed_in.post(f"/fee-review/{submitted.id}/messages", data={"body": "  "})
    assert r.status_code == 400
    assert 'href="#body"' in r.get_data(as_text=True) and "Enter your message" in text_of(r)
    data = {"body": "We have attached our latest accounts.", "form_token": "t" * 32}
    first = signed_in.post(f"/fee-review/{submitted.id}/messages", data=data)
    again = signed_in.post(f"/fee-review/{submitted.id}/messages", data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"].endswith(f"/fee-review/{submitted.id}#messages")
    bodies = db.session.execute(sa.select(FeeReviewMessage.body).where(
        FeeReviewMessage.submission_id == submitted.id)).scalars().all()
    assert bodies == ["We have attached our latest accounts."]
    page = text_of(signed_in.get(f"/fee-review/{submitted.id}"))
    assert provider_admin.full_name in page and "We have attached our latest accounts." in page


def test_staff_messages_show_the_lead_authority_not_a_name(signed_in, submitted, evaluator,
                                                          dps):
    fee_review.post_message(fresh(submitted), evaluator, "Can you send your staffing rota?",
                            ctx_for(evaluator))
    db.session.commit()
    page = text_of(signed_in.get(f"/fee-review/{submitted.id}"))
    assert "Can you send your staffing rota?" in page
    assert f"Commissioning team, {dps.lead_authority}" in page
    assert "Tom Okafor" not in page


# ------------------------------------------------------------------ lists and dashboard

def test_the_list_and_the_dashboard_panel_show_open_invitations(signed_in, round_, home):
    sub = submission_of(round_, home)
    listing = signed_in.get("/fee-review/")
    text = text_of(listing)
    assert "Fee review 2027-28" in text and "Not started" in text and "31 January 2027" in text
    assert f"/fee-review/{sub.id}" in listing.get_data(as_text=True)
    dashboard = signed_in.get("/applications/")
    text = text_of(dashboard)
    assert "Annual fee review" in text
    assert "Fee review 2027-28 Not started Submit your new prices by 31 January 2027." in text
    assert f"/fee-review/{sub.id}" in dashboard.get_data(as_text=True)


def test_the_dashboard_panel_says_when_a_counter_offer_waits(signed_in, countered):
    text = text_of(signed_in.get("/applications/"))
    assert "Counter-offer made" in text and "respond to it" in text


def test_an_agreed_review_leaves_the_dashboard_panel(signed_in, countered):
    signed_in.post(f"/fee-review/{countered.id}/respond",
                   data=respond_data(countered, [("accept", "")]))
    assert "Annual fee review" not in text_of(signed_in.get("/applications/"))
    assert "Agreed" in text_of(signed_in.get("/fee-review/"))




def test_the_dashboard_query_count_does_not_grow_with_invitations(
        client, dps, manager, clock):
    provider = member(dps.lots[0], weekly=("900",), rates=())
    login(client, provider.users[0])

    def fetch():
        r = client.get("/applications/")
        assert r.status_code == 200
        return r

    rnd = new_round(dps, manager, [dps.lots[0]], name="Fostering review 2027-28")
    open_and_invite(rnd, manager, OPENED.date())
    one = count_statements(fetch)
    for lot, name in ((dps.lots[1], "Residential review 2027-28"),
                      (dps.lots[2], "Supported accommodation review 2027-28")):
        member(lot, provider, weekly=("3000",), rates=(), admin=False)
        rnd = new_round(dps, manager, [lot], name=name)
        open_and_invite(rnd, manager, OPENED.date())
    three = count_statements(fetch)
    assert "Supported accommodation review 2027-28" in text_of(fetch())
    assert three == one
