"""The fee review panel of the provider dashboard (applications.index)."""
from app.domain import fee_review
from app.domain.applications import today
from app.domain.states import SubmissionStatus

# Invitations the provider may still have to act on, or is waiting to hear about.
IN_PROGRESS = (SubmissionStatus.INVITED, SubmissionStatus.DRAFT, SubmissionStatus.SUBMITTED,
               SubmissionStatus.NEGOTIATING, SubmissionStatus.AWAITING_APPROVAL)


def fee_review_panel(provider_id: int) -> dict:
    """Template context of resubmission/_dashboard_panel.html: one query, the
    rounds loaded with the submissions."""
    submissions = [s for s in fee_review.provider_submissions(provider_id)
                   if s.status in IN_PROGRESS]
    return {"fee_reviews": submissions, "fee_review_today": today(),
            "fee_review_deadlines": {s.id: fee_review.deadline(s) for s in submissions}}
