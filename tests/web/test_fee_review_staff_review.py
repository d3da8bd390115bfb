"""Reviewing providers' proposals through the web: the queue (filters, sort,
htmx, paging, bounded queries), bulk acceptance within guidance, deciding
lines (accept, counter-offer, reject) with the errors a reviewer sees, the
counter-offer round trip, four eyes above guidance, the thread, extensions
and a stale page refused with 409."""
from datetime import date

import pytest

from app.domain import fee_review
from app.domain.applications import today
from app.domain.prices import price_on
from app.domain.states import LineDecision, Role, SubmissionStatus
from app.extensions import db
from app.models import FeeReviewMessage, FeeReviewSubmission
from tests.factories import count_statements, login, outbox
from tests.factories_fee_review_staff import (AFTER_CLOSE, DURING, D, ctx_for, make_staff,
                                              member, propose, provider_admin, running_round,
                                              submission_of)

GUIDANCE = "4"   # the default round: guidance 4 %, cap 8 %


@pytest.fixture
def staff(app_ctx):
    return {"evaluator": make_staff(Role.EVALUATOR, full_name="Tom Okafor"),
            "manager": make_staff(Role.MANAGER, full_name="Helen Murray"),
            "manager2": make_staff(Role.MANAGER, full_name="Marcus Reid")}


@pytest.fixture
def review(dps, staff, time_machine):
    """Lot 1 round with two proposals: one within guidance, one above."""
    time_machine.move_to(DURING)
    lot = dps.lots[0]
    within = member(lot, weekly=("1000", "1000"), rates=("20",))
    above = member(lot, weekly=("1000", "1000"), rates=("20",))
    waiting = member(lot)
    round_ = running_round(dps, staff["manager"], [lot])
    propose(round_, within, ["1030", "1040", None])          # 3 % and 4 %
    propose(round_, above, ["1070", None, "21"])             # 7 % and 5 %: above guidance
    return {"round": round_, "within": within, "above": above, "waiting": waiting, "lot": lot}


def _url(round_, submission=None, tail=""):
    if submission is None:
        return f"/fee-reviews/{round_.id}{tail}"
    return f"/fee-reviews/{round_.id}/submissions/{submission.id}{tail}"


def _fresh(round_, provider) -> FeeReviewSubmission:
    db.session.expire_all()
    return submission_of(round_, provider)


def _decide(client, round_, submission, **lines):
    """POST decisions: lines maps line index -> (decision, counter, note)."""
    data = {"version": submission.version}
    for index, (decision, counter, note) in lines.items():
        line = submission.lines[int(index.removeprefix("l"))]
        data[f"line-{line.id}-decision"] = decision
        data[f"line-{line.id}-counter"] = counter
        data[f"line-{line.id}-note"] = note
    return client.post(_url(round_, submission), data=data)


# ------------------------------------------------------------------ the queue

def test_the_queue_lists_submitted_proposals_with_their_uplift(client, review, staff):
    login(client, staff["evaluator"])
    page = client.get(_url(review["round"], tail="/queue"))
    assert page.status_code == 200
    text = page.text
    assert review["within"].display_name in text and review["above"].display_name in text
    assert review["waiting"].display_name not in text  # not submitted: not in the default view
    assert "3.50%" in text  # (1030 + 1040) / 2000
    assert text.count("Above guidance") == 2  # the filter option and one row
    above_only = client.get(_url(review["round"], tail="/queue?above=yes")).text
    assert review["above"].display_name in above_only
    assert review["within"].display_name not in above_only
    everyone = client.get(_url(review["round"], tail="/queue?status=")).text
    assert review["waiting"].display_name in everyone and "Not started" in everyone


def test_queue_filters_swap_only_the_results_with_htmx(client, review, staff):
    login(client, staff["evaluator"])
    fragment = client.get(_url(review["round"], tail="/queue?sort=provider"),
                          headers={"HX-Request": "true", "HX-Target": "queue-results"})
    assert fragment.text.lstrip().startswith('<div id="queue-results">')
    assert "<html" not in fragment.text and "Filter and sort" not in fragment.text
    bad = client.get(_url(review["round"], tail="/queue?status=lost"))
    assert bad.status_code == 400 and "Select a status from the list" in bad.text


def test_member_officers_and_providers_cannot_review(client, review):
    submission = submission_of(review["round"], review["above"])
    for user in (make_staff(Role.MEMBER_OFFICER), provider_admin(review["above"])):
        login(client, user)
        assert client.get(_url(review["round"], submission)).status_code == 403
        assert client.post(_url(review["round"], submission), data={}).status_code == 403


def test_a_submission_of_another_round_is_not_found(client, review, staff):
    submission = submission_of(review["round"], review["above"])
    login(client, staff["evaluator"])
    assert client.get(f"/fee-reviews/{review['round'].id + 1}/submissions/"
                      f"{submission.id}").status_code == 404
    assert client.get(_url(review["round"], tail="/submissions/999999")).status_code == 404


# ------------------------------------------------------------------ bulk acceptance

def test_bulk_acceptance_confirms_the_counts_then_agrees_within_guidance(client, review, staff):
    round_ = review["round"]
    within, above = submission_of(round_, review["within"]), submission_of(round_, review["above"])
    login(client, staff["evaluator"])
    confirm = client.post(_url(round_, tail="/bulk-accept"),
                          data={"scope": "selected", "submission_ids": [within.id, above.id]})
    assert confirm.status_code == 200
    assert "You selected <strong>2 submissions</strong>" in confirm.text
    assert _fresh(round_, review["within"]).status is SubmissionStatus.SUBMITTED  # nothing yet
    done = client.post(_url(round_, tail="/bulk-accept"),
                       data={"scope": "selected", "submission_ids": [within.id, above.id],
                             "confirmed": "yes"})
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).text
    assert "2 lines within guidance accepted in 1 submission. 1 submission agreed" in page
    within = _fresh(round_, review["within"])
    assert within.status is SubmissionStatus.AGREED and within.prices_from == date(2027, 4, 1)
    assert [line.decision for line in within.lines] == [LineDecision.ACCEPTED] * 3
    # The proposal above guidance waits for a reviewer, untouched.
    above = _fresh(round_, review["above"])
    assert above.status is SubmissionStatus.SUBMITTED
    assert above.lines[0].decision is LineDecision.PENDING
    admin = provider_admin(review["within"])
    assert [m.template for m in outbox(admin.email)][-1] == "fee_review_agreed"
    # The agreed price applies from the effective date, not before.
    pt = review["lot"].placement_types[0]
    assert price_on(review["within"].id, pt.id, date(2027, 3, 31)).amount == D("1000")
    assert price_on(review["within"].id, pt.id, date(2027, 4, 1)).amount == D("1030")


def test_bulk_acceptance_of_every_submission_in_the_round(client, review, staff):
    login(client, staff["manager"])
    confirm = client.post(_url(review["round"], tail="/bulk-accept"), data={"scope": "all"})
    assert "every submitted proposal in this round: <strong>2 submissions</strong>" in confirm.text
    client.post(_url(review["round"], tail="/bulk-accept"),
                data={"scope": "all", "confirmed": "yes"})
    assert _fresh(review["round"], review["within"]).status is SubmissionStatus.AGREED


def test_bulk_acceptance_needs_a_choice(client, review, staff):
    login(client, staff["evaluator"])
    response = client.post(_url(review["round"], tail="/bulk-accept"),
                           data={"scope": "selected"})
    assert response.status_code == 400
    assert "govuk-error-summary" in response.text and 'href="#scope"' in response.text
    assert "Select at least one submission" in response.text
    response = client.post(_url(review["round"], tail="/bulk-accept"), data={})
    assert response.status_code == 400 and "Select which submissions to accept" in response.text


# ------------------------------------------------------------------ deciding lines

def test_the_review_page_shows_each_line_with_its_uplift_and_flags(client, review, staff):
    submission = submission_of(review["round"], review["above"])
    login(client, staff["evaluator"])
    page = client.get(_url(review["round"], submission)).text
    assert "£1,000.00" in page and "£1,070.00" in page and "7.00%" in page
    assert "No change asked" in page
    assert page.count("<strong class=\"govuk-tag govuk-tag--orange\">Above guidance</strong>") == 2
    assert "Staff pay rises with the National Living Wage." in page
    first = submission.lines[0]
    assert f'name="line-{first.id}-decision"' in page
    assert f'name="line-{submission.lines[1].id}-decision"' not in page  # no change asked


def test_a_counter_offer_needs_a_price_and_a_note(client, review, staff):
    submission = submission_of(review["round"], review["above"])
    first = submission.lines[0]
    login(client, staff["evaluator"])
    response = _decide(client, review["round"], submission, l0=("countered", "", ""),
                       l2=("rejected", "", "Rates stay as they are this year"))
    assert response.status_code == 400
    page = response.text
    assert "<title>Error:" in page
    assert f'href="#line-{first.id}-counter"' in page and "Enter the price you offer" in page
    assert f'href="#line-{first.id}-note"' in page and "Explain the counter-offer" in page
    assert "Rates stay as they are this year" in page  # kept
    response = _decide(client, review["round"], submission,
                       l0=("countered", "1070.00", "Same as asked"))
    assert "A counter-offer must differ from the price asked" in response.text
    response = _decide(client, review["round"], submission, l0=("countered", "a lot", "x"))
    assert "The counter-offer must be an amount in pounds" in response.text
    assert 'value="a lot"' in response.text
    assert _fresh(review["round"], review["above"]).lines[0].decision is LineDecision.PENDING


def test_counter_offer_round_trip_ends_in_agreement(client, review, staff):
    round_ = review["round"]
    submission = submission_of(round_, review["above"])
    login(client, staff["evaluator"])
    response = _decide(client, round_, submission,
                       l0=("countered", "1040.00", "4% is what the budget allows"),
                       l2=("rejected", "", "Rates stay as they are this year"))
    assert response.status_code == 303
    assert "has been sent the counter-offer" in client.get(response.headers["Location"]).text
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.NEGOTIATING
    admin = provider_admin(review["above"])
    assert outbox(admin.email)[-1].template == "fee_review_counter_offer"
    page = client.get(_url(round_, submission)).text
    assert "Counter-offer £1,040.00" in page and "A counter-offer is with the provider" in page
    # The provider accepts the counter-offer in its own pages.
    errors = fee_review.respond_to_counters(
        submission, {submission.lines[0].id: fee_review.ResponseInput(accept=True)}, "",
        admin, ctx_for(admin), today())
    assert errors == {}
    db.session.commit()
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.AGREED  # 4 % is within guidance
    assert [line.agreed_amount for line in submission.lines] == [D("1040"), D("1000"), D("20")]
    page = client.get(_url(round_, submission)).text
    assert "Counter-offer accepted" in page and "apply from 1 April 2027" in page


# ------------------------------------------------------------------ four eyes

def test_agreement_above_guidance_needs_a_different_manager(client, review, staff):
    round_ = review["round"]
    submission = submission_of(round_, review["above"])
    login(client, staff["manager"])
    response = _decide(client, round_, submission, l0=("accepted", "", ""),
                       l2=("accepted", "", ""))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "a different commissioning manager must approve the agreement" in page
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.AWAITING_APPROVAL
    assert submission.agreement_proposed_by_id == staff["manager"].id
    assert any(m.template == "fee_review_approval_needed" for m in outbox(staff["manager2"].email))
    # The proposer sees why they cannot approve, and a POST is refused the same way.
    assert "Awaiting second approval – proposed by Helen Murray" in page
    assert "You proposed this agreement, so you cannot approve it." in page
    refused = client.post(_url(round_, submission, "/approval"),
                          data={"version": submission.version, "decision": "approve"})
    assert refused.status_code == 403 and "a different commissioning manager" in refused.text
    assert _fresh(round_, review["above"]).status is SubmissionStatus.AWAITING_APPROVAL
    # An evaluator cannot approve either.
    login(client, staff["evaluator"])
    refused = client.post(_url(round_, submission, "/approval"),
                          data={"version": submission.version, "decision": "approve"})
    assert refused.status_code == 403
    # A second manager returns it without a reason: refused; with one: back to review.
    login(client, staff["manager2"])
    page = client.get(_url(round_, submission)).text
    assert 'name="decision" type="radio" value="approve"' in page
    missing = client.post(_url(round_, submission, "/approval"),
                          data={"version": submission.version, "decision": "return"})
    assert missing.status_code == 400
    assert "Enter why you are returning the agreement" in missing.text
    returned = client.post(_url(round_, submission, "/approval"),
                           data={"version": submission.version, "decision": "return",
                                 "reason": "The rate rise is not justified"})
    assert returned.status_code == 303
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.SUBMITTED
    assert outbox(staff["manager"].email)[-1].template == "fee_review_returned"
    # Decided again by the first manager, then approved by the second.
    login(client, staff["manager"])
    _decide(client, round_, submission, l2=("rejected", "", "Rates stay as they are"))
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.AWAITING_APPROVAL  # 7 % still above guidance
    login(client, staff["manager2"])
    approved = client.post(_url(round_, submission, "/approval"),
                           data={"version": submission.version, "decision": "approve"})
    assert approved.status_code == 303
    submission = _fresh(round_, review["above"])
    assert submission.status is SubmissionStatus.AGREED
    assert submission.agreed_by_id == staff["manager2"].id
    assert outbox(provider_admin(review["above"]).email)[-1].template == "fee_review_agreed"


# ------------------------------------------------------------------ conflicts

def test_a_stale_page_is_refused_with_409_and_nothing_saved(client, review, staff):
    round_ = review["round"]
    submission = submission_of(round_, review["above"])
    old_version = submission.version
    login(client, staff["evaluator"])
    # A colleague saves a decision first.
    login(client, staff["manager"])
    _decide(client, round_, submission, l2=("rejected", "", "Rates stay as they are"))
    login(client, staff["evaluator"])
    stale = client.post(_url(round_, submission), data={
        "version": old_version, f"line-{submission.lines[0].id}-decision": "accepted"})
    assert stale.status_code == 409 and "Nothing was saved" in stale.text
    assert _fresh(round_, review["above"]).lines[0].decision is LineDecision.PENDING


# ------------------------------------------------------------------ thread and extension

def test_reviewers_write_to_the_provider_in_the_thread(client, review, staff):
    round_ = review["round"]
    submission = submission_of(round_, review["above"])
    login(client, staff["evaluator"])
    _decide(client, round_, submission, l2=("rejected", "", "Rates stay as they are"))
    submission = _fresh(round_, review["above"])
    empty = client.post(_url(round_, submission, "/messages"), data={"body": "  "})
    assert empty.status_code == 400 and "Enter your message" in empty.text
    assert 'href="#body"' in empty.text
    # The decisions on the same page still show what is saved, not the message's POST.
    rate = submission.lines[2].id
    assert f'id="line-{rate}-decision-3" name="line-{rate}-decision" type="radio" ' \
           'value="rejected" checked' in empty.text
    sent = client.post(_url(round_, submission, "/messages"),
                       data={"body": "Can you send your staffing costs?"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("#messages")
    message = FeeReviewMessage.query.one()
    assert not message.from_provider and message.author_id == staff["evaluator"].id
    assert outbox(provider_admin(review["above"]).email)[-1].template == "fee_review_message"
    page = client.get(_url(round_, submission)).text
    assert "Can you send your staffing costs?" in page and "commissioning team" in page


def test_a_manager_extends_the_deadline_for_one_provider_after_the_round_closed(
        client, review, staff, time_machine):
    round_ = review["round"]
    time_machine.move_to(AFTER_CLOSE)
    manager = staff["manager"]
    fee_review.close_round(round_, manager, ctx_for(manager), today())
    db.session.commit()
    submission = _fresh(round_, review["waiting"])
    assert submission.status is SubmissionStatus.NO_RESPONSE
    login(client, staff["evaluator"])
    assert "Extend the deadline" not in client.get(_url(round_, submission)).text
    assert client.post(_url(round_, submission, "/extension"),
                       data={"version": submission.version}).status_code == 403
    login(client, manager)
    assert "Extend the deadline" in client.get(_url(round_, submission)).text
    bad = client.post(_url(round_, submission, "/extension"),
                      data={"version": submission.version, "until": ["14", "2", "2027"],
                            "reason": ""})
    assert bad.status_code == 400 and "Enter the reason for the extension" in bad.text
    bad = client.post(_url(round_, submission, "/extension"),
                      data={"version": submission.version, "until": ["1", "2", "2027"],
                            "reason": "Their finance manager was ill"})
    assert bad.status_code == 400 and 'href="#until"' in bad.text
    assert "today or a later date" in bad.text and "Their finance manager was ill" in bad.text
    ok = client.post(_url(round_, submission, "/extension"),
                     data={"version": submission.version, "until": ["14", "2", "2027"],
                           "reason": "Their finance manager was ill"})
    assert ok.status_code == 303
    submission = _fresh(round_, review["waiting"])
    assert submission.status is SubmissionStatus.DRAFT
    assert submission.extended_until == date(2027, 2, 14)
    assert outbox(provider_admin(review["waiting"]).email)[-1].template == "fee_review_extension"


# ------------------------------------------------------------------ bounded queries



def test_queue_and_report_cost_the_same_queries_for_3_or_30_submissions(client, dps, staff,
                                                                        time_machine):
    time_machine.move_to(DURING)
    lot = dps.lots[0]
    providers = [member(lot, weekly=("1000", "1000"), rates=("20",)) for _ in range(3)]
    round_ = running_round(dps, staff["manager"], [lot])
    for provider in providers:
        propose(round_, provider, ["1030", "1080", None])
    login(client, staff["manager"])

    def fetch(url):
        def call():
            db.session.expire_all()
            response = client.get(url)
            assert response.status_code == 200
        return call

    urls = [_url(round_, tail="/queue?status="), _url(round_, tail="/report"),
            _url(round_)]
    few = [count_statements(fetch(url)) for url in urls]
    more = [member(lot, weekly=("1000", "1000"), rates=("20",)) for _ in range(27)]
    # Invite the newcomers (re-running the invitations skips those already invited).
    job = fee_review.rerun_invitations(round_, staff["manager"], ctx_for(staff["manager"]),
                                       today())
    db.session.commit()
    from app.jobs.fee_review import enqueue_invitations
    enqueue_invitations(job)
    for provider in more:
        propose(round_, provider, ["1030", "1080", None])
    assert FeeReviewSubmission.query.count() == 30
    many = [count_statements(fetch(url)) for url in urls]
    assert many == few, (few, many)
    page = client.get(_url(round_, tail="/queue?status=")).text
    assert "Showing 1 to 25 of 30 submissions" in page
    page2 = client.get(_url(round_, tail="/queue?status=&page=2")).text
    assert "Showing 26 to 30 of 30 submissions" in page2
