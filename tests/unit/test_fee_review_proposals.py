"""A provider's proposal: the uplift per line and overall, the cap and the
guidance, the deadline and extensions."""
from datetime import date

import pytest

from app.domain import fee_review
from app.domain.fee_review import FeeReviewError, LineInput
from app.domain.prices import price_on
from app.domain.reference import DocumentKind
from app.domain.states import LineDecision, Role, SubmissionStatus
from app.extensions import db
from app.models import AuditEvent, Document, FeeReviewRound, Price, User
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, submission_of)

OPENED = date(2027, 1, 4)
CLOSES = date(2027, 1, 31)


@pytest.fixture
def manager(app_ctx):
    return make_staff(Role.MANAGER)


@pytest.fixture
def setup(dps, manager, time_machine):
    """A provider on lots 1 (weekly 1000 and 500, a rate of 20) and 2 (weekly
    2000), invited to a round with 4 % guidance and an 8 % cap."""
    time_machine.move_to(OPENED)
    fostering, residential = dps.lots[0], dps.lots[1]
    provider = member(fostering, weekly=("1000", "500"), rates=("20",))
    member(residential, provider, weekly=("2000",), rates=())
    round = new_round(dps, manager, [fostering, residential])
    open_and_invite(round, manager, OPENED)
    user = User.query.filter_by(provider_id=provider.id).one()
    return submission_of(round, provider), user


def lines(submission):
    """weekly 1000, weekly 500, rate 20 (lot 1); weekly 2000 (lot 2)."""
    return submission.lines


def save(submission, user, amounts, justification="", line_texts=None, evidence=None):
    line_texts = line_texts or {}
    proposals = {ln.id: LineInput(None if a is None else D(a), line_texts.get(i, ""))
                 for i, (ln, a) in enumerate(zip(submission.lines, amounts))}
    errors = fee_review.save_proposal(submission, proposals, justification, evidence, user,
                                      ctx_for(user))
    db.session.commit()
    return errors


def test_preview_shows_uplift_per_line_and_weighted_overall(setup):
    submission, _ = setup
    a, b, rate, c = lines(submission)
    result = fee_review.preview(submission, {a.id: LineInput(D("1040"), ""),
                                             b.id: LineInput(D("550"), ""),
                                             rate.id: LineInput(D("25"), ""),
                                             c.id: LineInput(None, "")})
    by_id = {p.line.id: p for p in result.lines}
    assert (by_id[a.id].uplift, by_id[a.id].above_guidance, by_id[a.id].above_cap) == \
        (D("4.00"), False, False)
    assert (by_id[b.id].uplift, by_id[b.id].above_guidance, by_id[b.id].above_cap) == \
        (D("10.00"), True, True)
    assert by_id[rate.id].uplift == D("25.00")
    assert (by_id[c.id].requested, by_id[c.id].uplift) == (D("2000"), D("0.00"))
    # Weekly fees only, weighted by current amounts: 3590 / 3500 - 1 = 2.57 %.
    assert (result.current_total, result.requested_total) == (D("3500"), D("3590"))
    assert result.overall_uplift == D("2.57")
    # Nothing was written.
    db.session.expire_all()
    assert all(ln.proposed_amount is None for ln in lines(submission))


def test_preview_without_proposals_reads_the_saved_values(setup):
    submission, user = setup
    save(submission, user, ["1030", None, None, "2100"])
    result = fee_review.preview(submission)
    assert [p.requested for p in result.lines] == [D("1030"), D("500"), D("20"), D("2100")]
    assert result.overall_uplift == D("3.71")  # (3630 / 3500 - 1) x 100


def test_saving_a_draft_keeps_the_amounts_and_totals(setup):
    submission, user = setup
    assert submission.status is SubmissionStatus.INVITED
    assert save(submission, user, ["1030", "480", None, "2080"], "Staff costs rose") == {}
    submission = db.session.get(type(submission), submission.id)
    assert submission.status is SubmissionStatus.DRAFT
    assert [ln.proposed_amount for ln in lines(submission)] == [D("1030"), D("480"), None,
                                                                D("2080")]
    assert (submission.current_total, submission.requested_total) == (D("3500"), D("3590"))
    assert submission.justification == "Staff costs rose"
    assert submission.above_guidance is False
    event = AuditEvent.query.filter_by(action="fee_review_submission.saved").one()
    assert event.actor_id == user.id and event.provider_id == submission.provider_id


def test_a_decrease_is_allowed(setup):
    submission, user = setup
    assert save(submission, user, ["950", None, None, None]) == {}
    assert fee_review.submission_errors(submission) == {}


def test_asking_the_current_price_is_asking_no_change(setup):
    submission, user = setup
    save(submission, user, ["1000.00", None, None, None])
    assert lines(submission)[0].proposed_amount is None


def test_above_the_cap_is_refused_and_nothing_is_saved(setup):
    submission, user = setup
    a, b, rate, c = lines(submission)
    errors = save(submission, user, ["1030", "540.01", None, None])
    assert errors == {f"line-{b.id}-amount":
                      "£540.01 is more than the cap of 8.00 % allows on £500.00. "
                      "Enter £540.00 or less"}
    db.session.expire_all()
    assert lines(submission)[0].proposed_amount is None
    assert submission.status is SubmissionStatus.INVITED
    # Exactly at the cap is allowed.
    assert save(submission, user, [None, "540", None, None], "Agency staff") == {}


@pytest.mark.parametrize("amount, message", [
    ("0", "Enter an amount greater than £0"),
    ("-5", "Enter an amount greater than £0"),
    ("1000.123", "pounds and pence"),
    ("25000.01", "Enter a weekly fee of £25,000.00 or less"),
])
def test_amounts_must_be_positive_pence_and_within_the_lot_maximum(setup, dps, amount, message):
    submission, user = setup
    round = submission.round
    round.cap_uplift = None
    db.session.commit()
    first = lines(submission)[0]
    errors = save(submission, user, [amount, None, None, None])
    assert message in errors[f"line-{first.id}-amount"]


def test_above_guidance_needs_a_justification_on_submit_but_not_in_a_draft(setup):
    submission, user = setup
    a, b, rate, c = lines(submission)
    assert save(submission, user, ["1050", None, None, None]) == {}   # 5 % > 4 %
    assert submission.above_guidance is True
    errors = fee_review.submission_errors(submission)
    assert errors == {f"line-{a.id}-justification":
                      "Explain why you ask for more than the guidance of 4.00 %, here or in "
                      "your overall justification"}
    with pytest.raises(FeeReviewError) as exc:
        fee_review.submit(submission, user, ctx_for(user), OPENED)
    assert exc.value.errors == errors
    db.session.rollback()
    # The line's own justification is enough ...
    save(submission, user, ["1050", None, None, None], line_texts={0: "Night staff"})
    assert fee_review.submission_errors(submission) == {}
    # ... and so is the overall one.
    save(submission, user, ["1050", None, None, None], justification="NLW rose 6.7 %")
    assert fee_review.submission_errors(submission) == {}
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    db.session.commit()
    assert submission.status is SubmissionStatus.SUBMITTED


def test_evidence_must_come_from_the_providers_own_library(setup, dps):
    submission, user = setup
    other = member(dps.lots[0])
    theirs = Document(provider_id=other.id, kind=DocumentKind.ACCOUNTS, storage_key="k-other",
                      original_filename="costs.pdf", content_type="application/pdf",
                      size_bytes=10, sha256="0" * 64)
    ours = Document(provider_id=submission.provider_id, kind=DocumentKind.ACCOUNTS, storage_key="k-ours",
                    original_filename="costs.pdf", content_type="application/pdf",
                    size_bytes=10, sha256="1" * 64)
    db.session.add_all([theirs, ours])
    db.session.commit()
    assert save(submission, user, [None] * 4, evidence=theirs.id) == {
        "evidence": "Select a current document from your evidence library"}
    assert save(submission, user, [None] * 4, evidence=ours.id) == {}
    assert submission.evidence_document_id == ours.id


def test_another_providers_user_cannot_change_a_proposal(setup, dps):
    submission, _ = setup
    stranger = User.query.filter_by(provider_id=member(dps.lots[0]).id).one()
    with pytest.raises(FeeReviewError, match="provider's own users"):
        save(submission, stranger, ["1010", None, None, None])
    evaluator = make_staff(Role.EVALUATOR)
    with pytest.raises(FeeReviewError):
        fee_review.submit(submission, evaluator, ctx_for(evaluator), OPENED)


def test_lines_with_no_change_are_accepted_on_submit(setup):
    submission, user = setup
    a, b, rate, c = lines(submission)
    save(submission, user, ["1030", None, None, None])
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    db.session.commit()
    assert submission.status is SubmissionStatus.SUBMITTED
    assert submission.submitted_by_id == user.id and submission.submitted_at is not None
    assert a.decision is LineDecision.PENDING and a.agreed_amount is None
    for line in (b, rate, c):
        assert line.decision is LineDecision.ACCEPTED and line.agreed_amount == line.current_amount


def test_submitting_no_change_at_all_agrees_at_once_and_adds_no_prices(setup):
    submission, user = setup
    before = Price.query.count()
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    db.session.commit()
    assert submission.status is SubmissionStatus.AGREED
    assert submission.agreed_total == submission.current_total == D("3500")
    assert Price.query.count() == before


# ------------------------------------------------------------- the deadline

def test_submit_on_the_closing_date_is_allowed(setup):
    submission, user = setup
    save(submission, user, ["1030", None, None, None])
    assert fee_review.deadline(submission) == CLOSES
    assert fee_review.can_submit(submission, CLOSES)
    fee_review.submit(submission, user, ctx_for(user), CLOSES)
    assert submission.status is SubmissionStatus.SUBMITTED


def test_after_the_deadline_submit_is_refused_with_a_clear_message(setup):
    submission, user = setup
    save(submission, user, ["1030", None, None, None])
    late = date(2027, 2, 1)
    assert not fee_review.can_submit(submission, late)
    with pytest.raises(FeeReviewError) as exc:
        fee_review.submit(submission, user, ctx_for(user), late)
    assert exc.value.message == ("The deadline for this fee review was 31 January 2027. Ask "
                                 "the commissioning team for an extension.")
    assert submission.status is SubmissionStatus.DRAFT


def test_an_extension_lets_one_provider_submit_later(setup, manager):
    submission, user = setup
    save(submission, user, ["1030", None, None, None])
    fee_review.grant_extension(submission, date(2027, 2, 7), "Provider's finance lead was ill",
                               manager, ctx_for(manager), date(2027, 1, 30))
    db.session.commit()
    assert submission.extended_until == date(2027, 2, 7)
    assert fee_review.deadline(submission) == date(2027, 2, 7)
    assert fee_review.can_submit(submission, date(2027, 2, 7))
    assert not fee_review.can_submit(submission, date(2027, 2, 8))
    fee_review.submit(submission, user, ctx_for(user), date(2027, 2, 5))
    assert submission.status is SubmissionStatus.SUBMITTED
    event = AuditEvent.query.filter_by(action="fee_review_submission.extended").one()
    assert event.actor_id == manager.id and event.reason == "Provider's finance lead was ill"
    assert event.after["extended_until"] == "2027-02-07"


def test_an_extension_after_the_round_closed_reopens_a_no_response(setup, manager, time_machine):
    submission, user = setup
    time_machine.move_to(date(2027, 2, 2))
    round = db.session.get(FeeReviewRound, submission.round_id)
    fee_review.close_round(round, manager, ctx_for(manager), date(2027, 2, 2))
    db.session.commit()
    submission = db.session.get(type(submission), submission.id)
    assert submission.status is SubmissionStatus.NO_RESPONSE
    assert not fee_review.can_submit(submission, date(2027, 2, 2))
    fee_review.grant_extension(submission, date(2027, 2, 9), "Missed the email", manager,
                               ctx_for(manager), date(2027, 2, 2))
    db.session.commit()
    assert submission.status is SubmissionStatus.DRAFT
    assert fee_review.can_submit(submission, date(2027, 2, 9))
    save(submission, user, ["1030", None, None, None])
    fee_review.submit(submission, user, ctx_for(user), date(2027, 2, 9))
    assert submission.status is SubmissionStatus.SUBMITTED


@pytest.mark.parametrize("until, reason, errors", [
    (None, "Ill", {"until": "Enter the date the extension runs until"}),
    (date(2027, 1, 3), "Ill", {"until": "The extension must run until today or a later date"}),
    (date(2027, 2, 7), "  ", {"reason": "Enter the reason for the extension"}),
])
def test_an_extension_needs_a_date_from_today_and_a_reason(setup, manager, until, reason, errors):
    submission, _ = setup
    with pytest.raises(FeeReviewError) as exc:
        fee_review.grant_extension(submission, until, reason, manager, ctx_for(manager), OPENED)
    assert exc.value.errors == errors


def test_only_managers_grant_extensions_and_not_after_submission(setup):
    submission, user = setup
    evaluator = make_staff(Role.EVALUATOR)
    with pytest.raises(FeeReviewError, match="Only a commissioning manager"):
        fee_review.grant_extension(submission, date(2027, 2, 7), "Ill", evaluator,
                                   ctx_for(evaluator), OPENED)
    fee_review.submit(submission, user, ctx_for(user), OPENED)
    manager = make_staff(Role.MANAGER)
    with pytest.raises(FeeReviewError, match="already submitted"):
        fee_review.grant_extension(submission, date(2027, 2, 7), "Ill", manager,
                                   ctx_for(manager), OPENED)


def test_prices_before_the_review_are_untouched_by_a_draft(setup):
    submission, user = setup
    save(submission, user, ["1030", None, None, None])
    pt = lines(submission)[0].placement_type_id
    assert price_on(submission.provider_id, pt, date(2027, 4, 1)).amount == D("1000")
