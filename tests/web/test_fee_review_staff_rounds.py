"""A commissioner's fee review rounds through the web: who may see and run
them, creating one (with the weighted model worked out as they type), the
form's errors, editing, opening it (invitations sent by the job, whose
progress the page follows) and closing it after the deadline."""
from datetime import date

import pytest

from app.domain.states import FeeReviewStatus, JobStatus, Role, SubmissionStatus
from app.extensions import db
from app.models import FeeReviewRound, FeeReviewSubmission, JobRun
from tests.factories import login, outbox
from tests.factories_fee_review_staff import (AFTER_CLOSE, DURING, D, make_staff, member,
                                              new_round, propose, running_round)


@pytest.fixture
def manager(app_ctx):
    return make_staff(Role.MANAGER, full_name="Helen Murray")


@pytest.fixture
def during(time_machine):
    time_machine.move_to(DURING)


def _form(dps, **overrides) -> dict:
    data = {"name": "Fee review 2027 to 2028",
            "lot_ids": [str(dps.lots[0].id), str(dps.lots[1].id)],
            "opens_on": ["11", "1", "2027"], "closes_on": ["31", "1", "2027"],
            "effective_on": ["1", "4", "2027"], "guidance_method": "direct",
            "guidance_uplift": "4", "staff_cost_weight": "", "nlw_change": "", "cpih": "",
            "cap_uplift": "8", "message": "Send your proposals by the end of January."}
    data.update(overrides)
    return data


# ------------------------------------------------------------------ access

@pytest.mark.parametrize("role", [Role.PROVIDER_ADMIN, Role.PROVIDER_USER, Role.MEMBER_OFFICER])
def test_providers_and_member_officers_cannot_reach_fee_reviews(client, dps, manager, during,
                                                                role):
    round_ = new_round(dps, manager, dps.lots[:1])
    login(client, make_staff(role))
    for url in ("/fee-reviews/", "/fee-reviews/new", f"/fee-reviews/{round_.id}",
                f"/fee-reviews/{round_.id}/queue", f"/fee-reviews/{round_.id}/report",
                f"/fee-reviews/{round_.id}/submissions.csv"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/fee-reviews/{round_.id}/open", data={"version": "1"}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, dps):
    response = client.get("/fee-reviews/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_evaluators_see_rounds_but_do_not_run_them(client, dps, manager, during):
    round_ = new_round(dps, manager, dps.lots[:1])
    login(client, make_staff(Role.EVALUATOR))
    page = client.get("/fee-reviews/")
    assert page.status_code == 200 and "Fee review 2027-28" in page.text
    assert "Create a round" not in page.text
    assert "Open the round" not in client.get(f"/fee-reviews/{round_.id}").text
    assert client.get("/fee-reviews/new").status_code == 403
    assert client.get(f"/fee-reviews/{round_.id}/open").status_code == 403
    assert client.post(f"/fee-reviews/{round_.id}/edit", data=_form(dps)).status_code == 403


def test_staff_navigation_links_to_fee_reviews_and_prices(client, dps, manager):
    login(client, manager)
    page = client.get("/fee-reviews/").text
    assert 'href="/fee-reviews/"' in page and 'href="/prices/"' in page


# ------------------------------------------------------------------ creating a round

def test_a_manager_creates_a_round_with_the_lots_dates_and_guidance(client, dps, manager,
                                                                    during):
    login(client, manager)
    page = client.get("/fee-reviews/new")
    assert page.status_code == 200
    assert "Lot 1: " in page.text and "Weighted" not in page.text
    response = client.post("/fee-reviews/new", data=_form(dps))
    assert response.status_code == 303
    round_ = FeeReviewRound.query.one()
    assert response.headers["Location"].endswith(f"/fee-reviews/{round_.id}")
    assert round_.status is FeeReviewStatus.DRAFT
    assert round_.lot_ids == [dps.lots[0].id, dps.lots[1].id]
    assert (round_.opens_on, round_.closes_on, round_.effective_on) == (
        date(2027, 1, 11), date(2027, 1, 31), date(2027, 4, 1))
    assert round_.guidance_uplift == D("4") and round_.cap_uplift == D("8")
    page = client.get(response.headers["Location"]).text
    assert "is saved" in page and "Not yet open" in page
    assert "The expected uplift is <strong>4%</strong>" in page
    assert "No line may ask for more than <strong>8%</strong>" in page


def test_the_weighted_model_is_explained_with_its_weights_and_indices(client, dps, manager,
                                                                      during):
    login(client, manager)
    response = client.post("/fee-reviews/new", data=_form(
        dps, guidance_method="model", guidance_uplift="", staff_cost_weight="70",
        nlw_change="4.1", cpih="3.4", cap_uplift=""))
    assert response.status_code == 303
    round_ = FeeReviewRound.query.one()
    assert round_.guidance_uplift == D("3.89") and round_.cap_uplift is None
    page = client.get(f"/fee-reviews/{round_.id}").text
    assert "staff costs are 70% of costs" in page and "up 4.1%" in page
    assert "other costs are 30% of costs" in page and "up 3.4%" in page
    assert "70% × 4.1% + 30% × 3.4% = 3.89%" in page
    assert "There is no maximum uplift." in page


def test_the_model_guidance_is_calculated_by_the_server_as_figures_change(client, dps, manager,
                                                                          during):
    login(client, manager)
    data = _form(dps, guidance_method="model", guidance_uplift="", staff_cost_weight="70",
                 nlw_change="4.1", cpih="3.4", calculate="1")
    fragment = client.post("/fee-reviews/new", data=data,
                           headers={"HX-Request": "true", "HX-Target": "guidance-calculation"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="guidance-calculation"')
    assert "<strong>3.89%</strong>" in fragment.text and "<html" not in fragment.text
    assert FeeReviewRound.query.count() == 0  # calculating saves nothing
    # The form shows the same figure whenever it comes back with the figures typed.
    data = {k: v for k, v in data.items() if k != "calculate"}
    page = client.post("/fee-reviews/new", data={**data, "name": ""})
    assert page.status_code == 400 and "<strong>3.89%</strong>" in page.text


def test_errors_are_listed_and_what_was_typed_is_kept(client, dps, manager, during):
    login(client, manager)
    response = client.post("/fee-reviews/new", data=_form(
        dps, name="", lot_ids=[], closes_on=["10", "1", "2027"], guidance_uplift="4",
        cap_uplift="3.5", message="Kept message"))
    assert response.status_code == 400
    page = response.text
    assert "<title>Error:" in page and "govuk-error-summary" in page
    assert 'href="#name"' in page and "Enter the name of the round" in page
    assert "Select at least one lot" in page
    assert "The closing date must be today or in the future" in page
    assert 'href="#cap_uplift"' in page and "The cap must be at least the guidance" in page
    # What was typed comes back as typed.
    assert 'value="3.5"' in page and "Kept message" in page
    assert 'id="closes_on-day" name="closes_on" type="text" value="10"' in page
    assert FeeReviewRound.query.count() == 0


def test_a_figure_that_is_not_a_number_says_so(client, dps, manager, during):
    login(client, manager)
    response = client.post("/fee-reviews/new", data=_form(
        dps, guidance_method="model", guidance_uplift="", staff_cost_weight="seventy",
        nlw_change="1e999", cpih="", effective_on=["31", "2", "2027"]))
    assert response.status_code == 400
    assert "The change in the National Living Wage must be a number" in response.text
    assert "The share of staff costs must be a number, like 4.1" in response.text
    assert "Enter CPIH inflation" in response.text
    assert "Effective date must be a real date" in response.text
    assert 'value="seventy"' in response.text


def test_creating_twice_from_the_same_page_makes_one_round(client, dps, manager, during):
    login(client, manager)
    page = client.get("/fee-reviews/new").text
    token = page.split('name="form_token" type="hidden" value="')[1].split('"')[0]
    first = client.post("/fee-reviews/new", data=_form(dps, form_token=token))
    second = client.post("/fee-reviews/new", data=_form(dps, form_token=token))
    assert first.status_code == second.status_code == 303
    assert FeeReviewRound.query.count() == 1
    assert second.headers["Location"] == first.headers["Location"]


def test_editing_a_draft_round_and_a_stale_page_is_refused(client, dps, manager, during):
    round_ = new_round(dps, manager, dps.lots[:1])
    login(client, manager)
    page = client.get(f"/fee-reviews/{round_.id}/edit")
    assert page.status_code == 200 and 'value="Fee review 2027-28"' in page.text
    version = str(round_.version)
    response = client.post(f"/fee-reviews/{round_.id}/edit", data=_form(
        dps, version=version, name="Fee review 2027 to 2028 (revised)", guidance_uplift="4.5"))
    assert response.status_code == 303
    db.session.expire_all()
    round_ = db.session.get(FeeReviewRound, round_.id)
    assert round_.name == "Fee review 2027 to 2028 (revised)"
    assert round_.guidance_uplift == D("4.5")
    # A second tab still showing the old version changes nothing.
    stale = client.post(f"/fee-reviews/{round_.id}/edit", data=_form(
        dps, version=version, name="Overwritten"))
    assert stale.status_code == 409 and "Nothing was saved" in stale.text
    db.session.expire_all()
    assert db.session.get(FeeReviewRound, round_.id).name.endswith("(revised)")


# ------------------------------------------------------------------ opening

def test_opening_asks_for_confirmation_then_invites_every_member(client, dps, manager, during):
    lot1, lot2 = dps.lots[0], dps.lots[1]
    ifa = member(lot1, weekly=("900", "950"))
    home = member(lot2, weekly=("3800",))
    member(dps.lots[2])  # not in the round
    round_ = new_round(dps, manager, [lot1, lot2])
    login(client, manager)
    page = client.get(f"/fee-reviews/{round_.id}")
    assert 'href="/fee-reviews/%d/open"' % round_.id in page.text
    confirm = client.get(f"/fee-reviews/{round_.id}/open")
    assert confirm.status_code == 200
    assert "Opening it invites <strong>2 providers</strong>" in confirm.text
    assert FeeReviewRound.query.one().status is FeeReviewStatus.DRAFT  # GET changes nothing
    response = client.post(f"/fee-reviews/{round_.id}/open", data={"version": round_.version})
    assert response.status_code == 303
    db.session.expire_all()
    round_ = db.session.get(FeeReviewRound, round_.id)
    assert round_.status is FeeReviewStatus.OPEN
    submissions = FeeReviewSubmission.query.order_by(FeeReviewSubmission.provider_id).all()
    assert [s.provider_id for s in submissions] == [ifa.id, home.id]
    assert all(s.status is SubmissionStatus.INVITED for s in submissions)
    assert [len(s.lines) for s in submissions] == [3, 2]  # weekly fees and a rate each
    assert round_.invitation_job.status is JobStatus.FINISHED
    assert any(m.template == "fee_review_invitation" for m in outbox())
    page = client.get(response.headers["Location"]).text
    assert "is open" in page and "Providers invited" in page
    assert "Not started" in page  # the counts by status
    # Opening again (a second tab) is refused and changes nothing.
    again = client.post(f"/fee-reviews/{round_.id}/open", data={"version": round_.version})
    assert again.status_code == 409 and "already open" in again.text
    assert FeeReviewSubmission.query.count() == 2


def test_invitation_progress_is_polled_while_the_job_runs(client, dps, manager, during):
    round_ = new_round(dps, manager, dps.lots[:1])
    round_.status = FeeReviewStatus.OPEN
    job = JobRun(kind="fee_review_invitations", status=JobStatus.RUNNING, done=500, total=2000,
                 started_by_id=manager.id)
    db.session.add(job)
    db.session.flush()
    round_.invitation_job_id = job.id
    db.session.commit()
    login(client, manager)
    page = client.get(f"/fee-reviews/{round_.id}")
    assert "500 of 2000 providers invited (25%)" in page.text
    assert 'hx-trigger="every 2s"' in page.text
    assert ">Refresh</a> to see the latest progress" in page.text  # without JavaScript
    fragment = client.get(f"/fee-reviews/{round_.id}",
                          headers={"HX-Request": "true", "HX-Target": "invitation-progress"})
    assert fragment.text.lstrip().startswith('<div id="invitation-progress"')
    assert "<html" not in fragment.text
    job.status, job.done = JobStatus.FINISHED, 2000
    db.session.commit()
    finished = client.get(f"/fee-reviews/{round_.id}",
                          headers={"HX-Request": "true", "HX-Target": "invitation-progress"})
    assert "every 2s" not in finished.text  # it stops polling


# ------------------------------------------------------------------ closing

def test_closing_after_the_deadline_records_no_response(client, dps, manager, time_machine):
    time_machine.move_to(DURING)
    lot = dps.lots[0]
    quiet, keen = member(lot), member(lot)
    round_ = running_round(dps, manager, [lot])
    propose(round_, keen, ["920"])
    login(client, manager)
    assert "Close the round" not in client.get(f"/fee-reviews/{round_.id}").text
    early = client.post(f"/fee-reviews/{round_.id}/close", data={"version": round_.version})
    assert early.status_code == 409 and "on or after its closing date" in early.text
    time_machine.move_to(AFTER_CLOSE)
    with client.session_transaction() as session:
        session.clear()  # the session from weeks ago has expired: sign in again
    login(client, manager)
    page = client.get(f"/fee-reviews/{round_.id}").text
    assert "Close the round" in page
    confirm = client.get(f"/fee-reviews/{round_.id}/close")
    assert "1 provider has not submitted" in confirm.text
    db.session.expire_all()
    round_ = db.session.get(FeeReviewRound, round_.id)
    response = client.post(f"/fee-reviews/{round_.id}/close", data={"version": round_.version})
    assert response.status_code == 303
    db.session.expire_all()
    statuses = {s.provider_id: s.status for s in FeeReviewSubmission.query}
    assert statuses == {quiet.id: SubmissionStatus.NO_RESPONSE, keen.id: SubmissionStatus.SUBMITTED}
    assert "1 provider that did not submit is recorded as no response" in \
        client.get(response.headers["Location"]).text
