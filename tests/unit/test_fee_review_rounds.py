"""Setting up a fee review round: its dates, lots and guidance (entered or
from the weighted model, with an optional cap), who may manage it, opening
and closing it."""
from datetime import date

import pytest

from app.domain import fee_review
from app.domain.fee_review import FeeReviewError, model_guidance, uplift, validate_round
from app.domain.states import FeeReviewStatus, JobStatus, Role, SubmissionStatus
from app.extensions import db
from app.models import AuditEvent, FeeReviewRound
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, round_input, submission_of)

TODAY = date(2027, 1, 4)


@pytest.fixture
def manager(app_ctx):
    return make_staff(Role.MANAGER)


def test_uplift_is_a_percentage_rounded_half_up_to_two_places():
    assert uplift(D("1000"), D("1041")) == D("4.10")
    assert uplift(D("900"), D("936")) == D("4.00")
    assert uplift(D("950"), D("900")) == D("-5.26")
    assert uplift(D("800"), D("800.20")) == D("0.03")     # 0.025 rounds up
    assert uplift(D("200"), D("200.01")) == D("0.01")     # 0.005 rounds up
    assert uplift(D("925"), D("925")) == D("0.00")


def test_model_guidance_weights_staff_costs_by_nlw_and_the_rest_by_cpih():
    assert model_guidance(D("70"), D("4.1"), D("3.4")) == D("3.89")
    assert model_guidance(D("100"), D("6.7"), D("2")) == D("6.70")
    assert model_guidance(D("0"), D("6.7"), D("2")) == D("2.00")
    assert model_guidance(D("65"), D("9.8"), D("4.2")) == D("7.84")


def test_a_valid_round_has_no_errors(dps):
    assert validate_round(dps, round_input(dps.lots[:2]), TODAY) == {}


@pytest.mark.parametrize("overrides, key, message", [
    ({"name": "  "}, "name", "Enter a name for the fee review round"),
    ({"lot_ids": []}, "lot_ids", "Select at least one lot"),
    ({"closes_on": date(2027, 1, 3)}, "closes_on", "must be today or in the future"),
    ({"opens_on": date(2027, 2, 1)}, "closes_on", "on or after the opening date"),
    ({"effective_on": date(2027, 1, 30)}, "effective_on", "on or after the closing date"),
    ({"guidance_uplift": None}, "guidance_uplift", "Enter the expected uplift"),
    ({"guidance_uplift": D("150")}, "guidance_uplift", "no more than 100"),
    ({"guidance_uplift": D("4.1234")}, "guidance_uplift", "3 decimal places"),
    ({"cap_uplift": D("3.5")}, "cap_uplift", "The cap must be at least the guidance (4.00 %)"),
    ({"guidance_method": "guess"}, "guidance_method", "Select how the guidance is set"),
    ({"guidance_method": "model", "staff_cost_weight": None, "nlw_change": D("4.1"),
      "cpih": D("3.4")}, "staff_cost_weight", "Enter the share of costs"),
    ({"guidance_method": "model", "staff_cost_weight": D("70"), "nlw_change": None,
      "cpih": D("3.4")}, "nlw_change", "Enter the National Living Wage change"),
    ({"guidance_method": "model", "staff_cost_weight": D("120"), "nlw_change": D("4.1"),
      "cpih": D("3.4")}, "staff_cost_weight", "no more than 100"),
    ({"guidance_method": "model", "staff_cost_weight": D("70"), "nlw_change": D("4.1"),
      "cpih": D("3.4"), "cap_uplift": D("3.8")}, "cap_uplift", "at least the guidance (3.89 %)"),
    ({"message": "x" * 5001}, "message", "5,000 characters or fewer"),
])
def test_round_validation(dps, overrides, key, message):
    errors = validate_round(dps, round_input(dps.lots[:1], **overrides), TODAY)
    assert key in errors and message in errors[key]


def test_lots_must_belong_to_the_rounds_dps(dps):
    from app.demo import build_dps
    other = build_dps(name="Another DPS")
    db.session.commit()
    errors = validate_round(dps, round_input([dps.lots[0], other.lots[0]]), TODAY)
    assert errors == {"lot_ids": "Select lots of this DPS"}


def test_closing_on_the_day_itself_and_the_effective_date_on_the_closing_date_are_allowed(dps):
    data = round_input(dps.lots[:1], opens_on=TODAY, closes_on=TODAY, effective_on=TODAY)
    assert validate_round(dps, data, TODAY) == {}


def test_create_stores_the_model_and_its_guidance(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    round = new_round(dps, manager, dps.lots[:2], guidance_method="model",
                      guidance_uplift=D("99"), staff_cost_weight=D("70"), nlw_change=D("4.1"),
                      cpih=D("3.4"), cap_uplift=None)
    round = db.session.get(FeeReviewRound, round.id)
    assert round.status is FeeReviewStatus.DRAFT
    assert round.guidance_uplift == D("3.89") and round.cap_uplift is None
    assert (round.staff_cost_weight, round.nlw_change, round.cpih) == (D("70"), D("4.1"),
                                                                      D("3.4"))
    assert round.lot_ids == [dps.lots[0].id, dps.lots[1].id]
    assert round.guidance_label == "3.89"
    event = AuditEvent.query.filter_by(action="fee_review.created").one()
    assert event.actor_id == manager.id and event.after["guidance_uplift"] == "3.890"


def test_invalid_create_raises_with_the_field_errors(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    with pytest.raises(FeeReviewError) as exc:
        fee_review.create_round(dps, round_input(dps.lots[:1], name=""), manager,
                                ctx_for(manager))
    assert exc.value.errors == {"name": "Enter a name for the fee review round"}
    assert FeeReviewRound.query.count() == 0


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.MEMBER_OFFICER, Role.PROVIDER_ADMIN])
def test_only_managers_and_admins_manage_rounds(dps, role, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    someone = make_staff(role)
    with pytest.raises(FeeReviewError, match="Only a commissioning manager"):
        fee_review.create_round(dps, round_input(dps.lots[:1]), someone, ctx_for(someone))
    admin = make_staff(Role.ADMIN)
    assert fee_review.create_round(dps, round_input(dps.lots[:1]), admin, ctx_for(admin))


def test_update_changes_a_draft_round_only(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    round = new_round(dps, manager, dps.lots[:1])
    version = round.version
    fee_review.update_round(round, round_input(dps.lots[1:3], name="Fee review 2027/28"),
                            manager, ctx_for(manager))
    db.session.commit()
    round = db.session.get(FeeReviewRound, round.id)
    assert round.name == "Fee review 2027/28"
    assert round.lot_ids == [dps.lots[1].id, dps.lots[2].id]
    assert round.version > version
    time_machine.move_to(TODAY)
    open_and_invite(round, manager, TODAY)
    round = db.session.get(FeeReviewRound, round.id)
    with pytest.raises(FeeReviewError, match="before it opens"):
        fee_review.update_round(round, round_input(dps.lots[:1]), manager, ctx_for(manager))


def test_opening_early_is_allowed_and_queues_the_invitation_job(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    round = new_round(dps, manager, dps.lots[:1])
    job = fee_review.open_round(round, manager, ctx_for(manager), date(2026, 12, 20))
    assert round.status is FeeReviewStatus.OPEN and round.opened_at is not None
    assert job.kind == fee_review.INVITATION_JOB and job.status is JobStatus.QUEUED
    assert round.invitation_job_id == job.id and job.started_by_id == manager.id
    with pytest.raises(FeeReviewError, match="cannot open a fee review round that is open"):
        fee_review.open_round(round, manager, ctx_for(manager), date(2026, 12, 20))


def test_a_round_whose_closing_date_passed_cannot_open(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    round = new_round(dps, manager, dps.lots[:1])
    with pytest.raises(FeeReviewError, match="closing date .31 January 2027. has passed"):
        fee_review.open_round(round, manager, ctx_for(manager), date(2027, 2, 1))


def test_two_open_rounds_cannot_share_a_lot(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    first = new_round(dps, manager, dps.lots[:2])
    open_and_invite(first, manager, date(2026, 12, 1))
    second = new_round(dps, manager, dps.lots[1:3], name="Another")
    with pytest.raises(FeeReviewError, match="Lot 2: .* is already in an open fee review"):
        fee_review.open_round(second, manager, ctx_for(manager), date(2026, 12, 1))


def test_close_marks_no_response_and_those_keep_their_prices(dps, manager, time_machine):
    lot = dps.lots[0]
    silent = member(lot, weekly=("900",), rates=())
    drafting = member(lot, weekly=("910",), rates=())
    extended = member(lot, weekly=("920",), rates=())
    submitted = member(lot, weekly=("930",), rates=())
    time_machine.move_to(date(2026, 12, 1))
    round = new_round(dps, manager, [lot])
    open_and_invite(round, manager, date(2026, 12, 1))
    from app.models import User

    def user_of(provider):
        return User.query.filter_by(provider_id=provider.id).first()
    s = submission_of(round, drafting)
    fee_review.save_proposal(s, {s.lines[0].id: fee_review.LineInput(D("930"), "")}, "", None,
                             user_of(drafting), ctx_for(user_of(drafting)))
    s = submission_of(round, submitted)
    fee_review.save_proposal(s, {s.lines[0].id: fee_review.LineInput(D("960"), "")}, "", None,
                             user_of(submitted), ctx_for(user_of(submitted)))
    fee_review.submit(s, user_of(submitted), ctx_for(user_of(submitted)), date(2026, 12, 2))
    db.session.commit()
    round = db.session.get(FeeReviewRound, round.id)
    with pytest.raises(FeeReviewError, match="on or after its closing date, 31 January 2027"):
        fee_review.close_round(round, manager, ctx_for(manager), date(2027, 1, 30))
    fee_review.grant_extension(submission_of(round, extended), date(2027, 2, 7), "Flu outbreak",
                               manager, ctx_for(manager), date(2027, 1, 30))
    db.session.commit()
    time_machine.move_to(date(2027, 1, 31))
    round = db.session.get(FeeReviewRound, round.id)
    assert fee_review.close_round(round, manager, ctx_for(manager), date(2027, 1, 31)) == 2
    db.session.commit()
    assert submission_of(round, silent).status is SubmissionStatus.NO_RESPONSE
    assert submission_of(round, drafting).status is SubmissionStatus.NO_RESPONSE
    assert submission_of(round, extended).status is SubmissionStatus.INVITED
    assert submission_of(round, submitted).status is SubmissionStatus.SUBMITTED
    round = db.session.get(FeeReviewRound, round.id)
    assert round.status is FeeReviewStatus.CLOSED and round.closed_at is not None
    closed = AuditEvent.query.filter_by(action="fee_review.closed").one()
    assert closed.after["no_response"] == 2
    # No response: their prices carry on past the effective date.
    from app.domain.prices import price_on
    pt = lot.placement_types[0]
    assert price_on(silent.id, pt.id, date(2027, 4, 1)).amount == D("900")
    assert price_on(drafting.id, pt.id, date(2027, 4, 1)).amount == D("910")


def test_a_no_response_submission_version_moves_when_the_round_closes(dps, manager,
                                                                      time_machine):
    lot = dps.lots[0]
    provider = member(lot, weekly=("900",), rates=())
    time_machine.move_to(date(2027, 1, 31))
    round = new_round(dps, manager, [lot])
    open_and_invite(round, manager, date(2027, 1, 31))
    version = submission_of(round, provider).version
    fee_review.close_round(db.session.get(FeeReviewRound, round.id), manager, ctx_for(manager),
                           date(2027, 1, 31))
    db.session.commit()
    assert submission_of(round, provider).version == version + 1


def test_rounds_for_lists_newest_effective_date_first(dps, manager, time_machine):
    time_machine.move_to(date(2026, 12, 1))
    older = new_round(dps, manager, dps.lots[:1], name="Old", effective_on=date(2027, 4, 1))
    newer = new_round(dps, manager, dps.lots[:1], name="New", effective_on=date(2028, 4, 1),
                      closes_on=date(2028, 1, 31), opens_on=date(2028, 1, 2))
    assert [r.id for r in fee_review.rounds_for(dps)] == [newer.id, older.id]
