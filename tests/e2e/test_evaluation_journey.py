"""Issue 3 in a real browser: an evaluator works a submitted Lot 1 application
from the queue, through a clarification, to a recommendation; a commissioning
manager confirms it; the provider reads the outcome; the history shows it all.

Each person has their own browser context (their own cookies), as three
people at three computers would. The application is built through the domain
rules (tests/factories_evaluation.py), exactly as a provider would leave it.
"""
import re
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.domain import clarifications
from app.domain.states import Role
from app.extensions import db
from app.models import Dps, Lot
from tests.e2e.helpers import assert_accessible, read_outbox, sign_in, unique_email
from tests.factories import make_provider
from tests.factories_evaluation import ctx_for, in_evaluation, quick_user, submitted_application

pytestmark = pytest.mark.e2e

LOT = "Lot 1: Independent fostering"
QUESTIONS = ("Safeguarding", "Outcomes", "Matching and stability", "Working with the council")
RAISED_PRICE = "Complex needs foster care"  # £1,050.00 a week in the demo application
ANSWER = ("Our complex needs price includes a second carer at home, weekly therapy and "
          "an education mentor for every child.")
REASONS = "Every minimum criterion is met and the quality answers score 80 out of 100."
FEEDBACK = ("Strong safeguarding and matching answers. Your explanation of the complex "
            "needs price was clear.")


@dataclass
class Case:
    app_id: int
    lot_id: int
    reference: str
    provider_email: str
    contact_email: str
    evaluator_email: str
    evaluator_name: str
    manager_email: str
    manager_name: str


def _build_case(app, *, answered: str | None = None) -> Case:
    """A provider's Lot 1 application, complete and submitted, and two members of
    staff. With `answered`, the evaluator has also taken it and asked one
    question, which the provider has answered with that text.

    Emails and the company number are unique: the browser tests share one
    database, and tests/factories' counters restart in every process."""
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        dps = db.session.execute(sa.select(Dps).order_by(Dps.id).limit(1)).scalar_one()
        provider = make_provider(legal_name=f"Kestrel Fostering {tag} Ltd",
                                 trading_name=f"Kestrel Fostering {tag}",
                                 company_number=f"{uuid.uuid4().int % 10**8:08d}",
                                 contact_email=unique_email("office"))
        admin = quick_user(Role.PROVIDER_ADMIN, provider, email=unique_email("provider"),
                           full_name="Amira Khan")
        evaluator = quick_user(Role.EVALUATOR, email=unique_email("evaluator"),
                               full_name=f"Tom Okafor {tag}")
        manager = quick_user(Role.MANAGER, email=unique_email("manager"),
                             full_name=f"Helen Murray {tag}")
        if answered is None:
            application = submitted_application(dps, provider, lots=(1,), user=admin)
        else:
            application = in_evaluation(dps, evaluator, provider, lots=(1,), user=admin)
            asked = clarifications.ask(ctx_for(evaluator), application, evaluator,
                                       [f"Please explain your price for {RAISED_PRICE}."])
            db.session.commit()
            clarifications.answer(ctx_for(admin), application, admin, {asked[0].id: answered})
            db.session.commit()
        lot_id = db.session.execute(
            sa.select(Lot.id).where(Lot.dps_id == dps.id, Lot.number == 1)).scalar_one()
        found = Case(app_id=application.id, lot_id=lot_id, reference=application.reference,
                     provider_email=admin.email, contact_email=provider.contact_email,
                     evaluator_email=evaluator.email, evaluator_name=evaluator.full_name,
                     manager_email=manager.email, manager_name=manager.full_name)
        db.session.remove()
    return found


def _person(new_context, email: str) -> Page:
    """A fresh browser (own cookies) signed in as `email`."""
    page = new_context().new_page()
    sign_in(page, email)
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()
    return page


def _flash(page: Page, text: str) -> None:
    expect(page.get_by_role("alert", name="Success")).to_contain_text(text)


def _lot_row(page: Page):
    return page.locator("#lot-evaluations").get_by_role("row", name=re.compile(f"^{LOT}"))


def _open_from_queue(page: Page, reference: str, *, check_accessible: bool = False) -> None:
    """From the queue (a member of staff's home page): filter by Lot 1 with the
    form's button, then open the application by its reference."""
    page.goto("/staff/")
    expect(page.get_by_role("heading", name="Evaluation queue", level=1)).to_be_visible()
    page.get_by_label("Lot", exact=True).select_option(label=LOT)
    page.get_by_role("button", name="Apply filters").click()
    # htmx swaps the results in and pushes the filtered address.
    expect(page).to_have_url(re.compile(r"[?&]lot=\d+"))
    results = page.locator("#queue-results")
    expect(results.get_by_role("status")).to_contain_text("matching your filters")
    rows = results.get_by_role("row")
    expect(rows.first).to_be_visible()
    # Every application listed applied for Lot 1 (the header row aside).
    expect(rows.filter(has_not_text="Lot 1")).to_have_count(1)
    if check_accessible:
        assert_accessible(page)
    row = rows.filter(has=page.get_by_role("link", name=reference, exact=True))
    row.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", name=f"Application {reference}", level=1)).to_be_visible()


def test_evaluator_and_manager_decide_an_application_the_provider_submitted(
        new_context, live_server):
    app = live_server.app
    case = _build_case(app)

    # ---------------------------------------------------------------- 1. take it
    evaluator = _person(new_context, case.evaluator_email)
    expect(evaluator).to_have_url(re.compile(r"/staff/$"))
    _open_from_queue(evaluator, case.reference, check_accessible=True)
    evaluation = evaluator.get_by_role("complementary", name="Evaluation")
    expect(_lot_row(evaluator)).to_contain_text("Not started")
    evaluation.get_by_role("button", name="Take this application").click()
    _flash(evaluator, "You are now evaluating this application.")
    expect(evaluator.get_by_text(f"{case.evaluator_name} (you)")).to_be_visible()
    expect(_lot_row(evaluator)).to_contain_text("Being evaluated")

    # ---------------------------------------------------------------- 2. evaluate Lot 1
    evaluator.get_by_role("link", name="Evaluate of Lot 1").click()
    expect(evaluator.get_by_role("heading", name=LOT, level=1)).to_be_visible()
    assert_accessible(evaluator)

    criteria = evaluator.locator("#lot-criteria")
    decisions = criteria.get_by_role("group", name=re.compile(r"^Your decision on "))
    expect(decisions.first).to_be_visible()
    assert decisions.count() >= 4  # Ofsted, insurances, finances, declarations
    for group in decisions.all():
        # Complete evidence: every finding is a pass, so "Confirm" means "meets".
        group.get_by_role("radio", name="Confirm: meets this criterion").check()
    criteria.get_by_role("button", name="Save minimum criteria").click()
    criteria = evaluator.locator("#lot-criteria")
    expect(criteria.get_by_text("Minimum criteria saved")).to_be_visible()
    expect(criteria.get_by_text(f"Confirmed by {case.evaluator_name}")).to_have_count(
        decisions.count())

    scores = evaluator.locator("#lot-scores")
    expect(scores.get_by_text("Weighted quality total: not yet scored")).to_be_visible()
    for title in QUESTIONS:
        scores.get_by_role("group", name=f"Score for {title}").get_by_label(
            "4", exact=True).check()
        scores.get_by_label(f"Comment on {title}").fill(f"{title}: a good, specific answer.")
    scores.get_by_role("button", name="Save scores").click()
    scores = evaluator.locator("#lot-scores")
    expect(scores.get_by_text("Scores saved")).to_be_visible()
    # 4 of 5 on every question is 80% of the weighted marks, computed by the server.
    expect(scores.locator("#quality-total")).to_have_text(
        re.compile(r"Weighted quality total:\s*80(\.0+)? out of 100"))

    prices = evaluator.locator("#lot-prices")
    expect(prices.get_by_role("heading", name="Price check")).to_be_visible()
    price_row = prices.get_by_role("row", name=re.compile(f"^{RAISED_PRICE}"))
    expect(price_row).to_contain_text("£1,050.00")

    # ---------------------------------------------------------------- 3. ask about a price
    price_row.get_by_role(
        "link", name=f"Raise as a clarification about {RAISED_PRICE}").click()
    expect(evaluator.get_by_role("heading", name="Ask the provider for clarification")
           ).to_be_visible()
    question = evaluator.get_by_label("Question 1")
    expect(question).to_have_value(re.compile(
        rf"^Please explain your ceiling price of £1,050\.00 a week for {RAISED_PRICE}"))
    evaluator.get_by_role("button", name="Send questions to the provider").click()
    _flash(evaluator, "Your questions have been sent to")
    expect(evaluator.get_by_role("main")).to_contain_text("Clarification requested")
    requested = read_outbox(app, case.provider_email, "clarification_requested")
    assert len(requested) == 1 and RAISED_PRICE in requested[0][1]

    # ---------------------------------------------------------------- 4. the provider answers
    provider = _person(new_context, case.provider_email)
    expect(provider).to_have_url(re.compile(r"/applications/$"))
    banner = provider.get_by_role("region", name="Important")
    expect(banner).to_contain_text(
        f"The lead authority has asked for clarification about {case.reference}")
    banner.get_by_role("link", name="Answer their questions").click()
    expect(provider.get_by_role("heading", name="Questions from the lead authority")
           ).to_be_visible()
    expect(provider.get_by_role("main")).to_contain_text(
        f"Please explain your ceiling price of £1,050.00 a week for {RAISED_PRICE}")
    provider.get_by_label("Your answer to question 1").fill(ANSWER)
    provider.get_by_role("button", name="Send your answers").click()
    _flash(provider, "Your answers have been sent")
    expect(provider.get_by_role("region", name="Important")).to_have_count(0)
    assert len(read_outbox(app, case.evaluator_email, "clarification_answered")) == 1

    # ---------------------------------------------------------------- 5. what changed, recommend
    evaluator.goto(f"/staff/applications/{case.app_id}")
    expect(_lot_row(evaluator)).to_contain_text("Being evaluated")
    evaluator.get_by_role("link", name="What has changed").click()
    expect(evaluator.get_by_role("heading", name="What has changed", level=1)).to_be_visible()
    expect(evaluator.get_by_role("table", name="1 change since you last looked")).to_be_visible()
    change = evaluator.get_by_role("row", name=re.compile(r"^Clarifications\s+Question 1"))
    expect(change).to_contain_text(f"Answer: {ANSWER}")
    expect(change).to_contain_text("Not in this version")
    evaluator.get_by_role("link", name="Back to the application").click()

    evaluator.get_by_role("link", name="Recommend an outcome for Lot 1").click()
    expect(evaluator.get_by_role("heading", name="Recommend a decision on Lot 1")
           ).to_be_visible()
    expect(evaluator.get_by_role("main")).to_contain_text(re.compile(r"80(\.0+)? out of 100"))
    evaluator.get_by_role("radio", name="Approve: the provider joins this lot").check()
    evaluator.get_by_label("Your reasons").fill(REASONS)
    evaluator.get_by_label("Feedback for the provider").fill(FEEDBACK)
    evaluator.get_by_role("button", name="Send for moderation").click()
    _flash(evaluator, f"Your recommendation on {LOT} has been sent for moderation.")
    expect(_lot_row(evaluator)).to_contain_text("Awaiting moderation")
    assert len(read_outbox(app, case.manager_email, "recommendation_ready")) == 1

    # ---------------------------------------------------------------- 6. four eyes
    expect(evaluator.get_by_role("link", name=re.compile(r"^Moderate"))).to_have_count(0)
    moderate_url = f"/staff/applications/{case.app_id}/lots/{case.lot_id}/moderate"
    refused = evaluator.goto(moderate_url)
    assert refused.status == 403
    expect(evaluator.get_by_role("heading", name="You do not have access to this page")
           ).to_be_visible()
    expect(evaluator.get_by_role("button", name="Save and continue")).to_have_count(0)

    manager = _person(new_context, case.manager_email)
    _open_from_queue(manager, case.reference)
    expect(_lot_row(manager)).to_contain_text("Approve")
    manager.get_by_role("link", name="Moderate the recommendation for Lot 1").click()
    expect(manager.get_by_role("heading", name="Moderate the recommendation on Lot 1")
           ).to_be_visible()
    main = manager.get_by_role("main")
    expect(main).to_contain_text(case.evaluator_name)
    expect(main).to_contain_text(REASONS)
    expect(main).to_contain_text(FEEDBACK)
    assert_accessible(manager)
    manager.get_by_role("radio", name="Yes, confirm it as the decision").check()
    manager.get_by_role("button", name="Save and continue").click()
    _flash(manager, f"The decision on {case.reference} is made and the provider has been told.")
    expect(_lot_row(manager)).to_contain_text("Decided")
    expect(_lot_row(manager)).to_contain_text("Approve")

    # ---------------------------------------------------------------- 7. the provider's outcome
    provider.goto("/applications/")
    provider.get_by_role("link", name=re.compile(re.escape(case.reference))).click()
    provider.get_by_role("link", name="see the outcome and feedback for each lot").click()
    expect(provider.get_by_role("heading", name="The outcome of your application", level=1)
           ).to_be_visible()
    expect(provider.get_by_role("heading", name=re.compile(f"^{LOT}\\s+Approved$"), level=2)
           ).to_be_visible()
    expect(provider.get_by_text(FEEDBACK)).to_be_visible()
    expect(provider.get_by_text(REASONS)).to_have_count(0)  # staff only
    expect(provider.get_by_text("You are now on Lot 1 from")).to_be_visible()
    prices_now = provider.get_by_role("table", name=f"Your prices on {LOT}")
    expect(prices_now.get_by_role("row", name=re.compile(r"^Standard foster care \(0–4\)"))
           ).to_contain_text("£846.00 per week")
    expect(prices_now.get_by_role("row", name=re.compile(f"^{RAISED_PRICE}"))
           ).to_contain_text("£1,050.00 per week")
    # The additional-service rates apply too.
    expect(prices_now.get_by_role("row", name=re.compile(r"^Therapeutic session"))
           ).to_contain_text("£85.00")
    assert_accessible(provider)
    decided = read_outbox(app, case.provider_email, "decision_made")
    assert len(decided) == 1
    subject, body = decided[0]
    assert subject == f"Decision on your application {case.reference}"
    assert f"{LOT}: Approved" in body and FEEDBACK in body
    assert len(read_outbox(app, case.contact_email, "decision_made")) == 1

    # ---------------------------------------------------------------- 8. the history
    manager.get_by_role("link", name="History").click()
    expect(manager.get_by_role("heading", name=f"History of application {case.reference}")
           ).to_be_visible()
    timeline = manager.locator(".app-timeline")
    steps = [re.sub(r"\s+", " ", text).strip() for text in
             timeline.get_by_role("heading", level=2).all_inner_texts()][::-1]  # oldest first
    expected = ["Application submitted", "Evaluation started", "Minimum criteria checked: Lot 1",
                "Quality answers scored: Lot 1", "Clarification requested",
                "Clarification answered", "Recommendation made: Lot 1", "All lots recommended",
                "Recommendation confirmed: Lot 1", "Decision made"]
    found = iter(steps)
    missing = [step for step in expected if not any(s.startswith(step) for s in found)]
    assert not missing, f"not in the history in this order: {missing}\nhistory: {steps}"
    started = timeline.get_by_role("listitem").filter(
        has=manager.get_by_role("heading", name="Evaluation started"))
    expect(started).to_contain_text(case.evaluator_name)
    confirmed = timeline.get_by_role("listitem").filter(
        has=manager.get_by_role("heading", name=re.compile("^Recommendation confirmed")))
    expect(confirmed).to_contain_text(case.manager_name)
    assert_accessible(manager)


def test_what_has_changed_lists_the_answer_for_an_evaluator_who_had_not_opened_it(
        new_context, live_server):
    case = _build_case(live_server.app, answered=ANSWER)
    evaluator = _person(new_context, case.evaluator_email)
    evaluator.goto(f"/staff/applications/{case.app_id}")
    evaluator.get_by_role("link", name="What has changed").click()
    expect(evaluator.get_by_role("heading", name="What has changed", level=1)).to_be_visible()
    change = evaluator.get_by_role("row", name=re.compile(r"^Clarifications\s+Question 1"))
    expect(change).to_contain_text(f"Answer: {ANSWER}", timeout=1000)
