"""Builders for the commissioner-side fee review tests: an open round with
invited providers, and providers' proposals submitted through the domain
(as the provider pages would), so the staff pages see real submissions."""
from datetime import datetime

from app.domain import fee_review
from app.domain.applications import today
from app.domain.states import Role
from app.extensions import db
from app.models import FeeReviewSubmission, User
from tests.factories_fee_review import (D, ctx_for, make_staff, member, new_round,
                                        open_and_invite, submission_of)

# Inside the default round of tests.factories_fee_review.round_input: it opens
# on 4 January 2027, closes on 31 January and takes effect on 1 April 2027.
DURING = datetime(2027, 1, 11, 12, 0)
AFTER_CLOSE = datetime(2027, 2, 3, 12, 0)

__all__ = ["DURING", "AFTER_CLOSE", "running_round", "propose", "provider_admin", "D",
           "make_staff", "member", "new_round", "submission_of", "ctx_for"]


def running_round(dps, manager, lots, **overrides):
    """A round on `lots`, opened and with its invitations sent (call inside DURING)."""
    round_ = new_round(dps, manager, lots, **overrides)
    open_and_invite(round_, manager, today())
    return db.session.get(type(round_), round_.id)


def provider_admin(provider) -> User:
    return User.query.filter_by(provider_id=provider.id, role=Role.PROVIDER_ADMIN).first()


def propose(round_, provider, amounts, *, justification="Staff pay rises with the National "
            "Living Wage.", submit=True) -> FeeReviewSubmission:
    """The provider asks `amounts` (in line order; None = no change) and submits."""
    submission = submission_of(round_, provider)
    actor = provider_admin(provider)
    proposals = {line.id: fee_review.LineInput(None if amount is None else D(amount), "")
                 for line, amount in zip(submission.lines, amounts)}
    errors = fee_review.save_proposal(submission, proposals, justification, None, actor,
                                      ctx_for(actor))
    assert errors == {}, errors
    if submit:
        fee_review.submit(submission, actor, ctx_for(actor), today())
    db.session.commit()
    return submission
