"""Every lifecycle in one place: the states and the transitions allowed.

Views and jobs never set a status directly; they call `transition()`, which
refuses anything not in the table.
"""
import enum


class Role(str, enum.Enum):
    PROVIDER_USER = "provider_user"
    PROVIDER_ADMIN = "provider_admin"
    EVALUATOR = "evaluator"
    MANAGER = "manager"
    MEMBER_OFFICER = "member_officer"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_provider(self) -> bool:
        return self in (Role.PROVIDER_USER, Role.PROVIDER_ADMIN)

    @property
    def is_staff(self) -> bool:
        return not self.is_provider


ROLE_LABELS = {
    Role.PROVIDER_USER: "Provider user",
    Role.PROVIDER_ADMIN: "Provider administrator",
    Role.EVALUATOR: "Evaluator",
    Role.MANAGER: "Commissioning manager",
    Role.MEMBER_OFFICER: "Member authority officer",
    Role.ADMIN: "Administrator",
}
STAFF_ROLES = [r for r in Role if r.is_staff]


class ApplicationStatus(str, enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_EVALUATION = "in_evaluation"
    CLARIFICATION_REQUESTED = "clarification_requested"
    RECOMMENDED = "recommended"
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


A = ApplicationStatus
APPLICATION_TRANSITIONS: dict[tuple[ApplicationStatus, str], ApplicationStatus] = {
    (A.DRAFT, "submit"): A.SUBMITTED,
    (A.DRAFT, "withdraw"): A.WITHDRAWN,
    (A.SUBMITTED, "withdraw"): A.WITHDRAWN,
    (A.SUBMITTED, "start_evaluation"): A.IN_EVALUATION,
    (A.IN_EVALUATION, "request_clarification"): A.CLARIFICATION_REQUESTED,
    (A.IN_EVALUATION, "withdraw"): A.WITHDRAWN,
    (A.CLARIFICATION_REQUESTED, "answer_clarification"): A.IN_EVALUATION,
    (A.CLARIFICATION_REQUESTED, "withdraw"): A.WITHDRAWN,
    (A.IN_EVALUATION, "recommend"): A.RECOMMENDED,
    (A.RECOMMENDED, "return_to_evaluation"): A.IN_EVALUATION,
    (A.RECOMMENDED, "decide"): A.DECIDED,
}
# States in which the provider may still change answers.
APPLICATION_EDITABLE = {A.DRAFT}


class IllegalTransition(Exception):
    """Raised when an action is not allowed from the current state."""


def next_status(table: dict, current, action: str, noun: str, current_label: str):
    """The state `action` leads to from `current` in a lifecycle's table, or
    IllegalTransition with a message written for the person acting."""
    try:
        return table[(current, action)]
    except KeyError:
        raise IllegalTransition(
            f"You cannot {action.replace('_', ' ')} {noun} that is {current_label.lower()}."
        ) from None


def next_application_status(current: ApplicationStatus, action: str) -> ApplicationStatus:
    return next_status(APPLICATION_TRANSITIONS, current, action, "an application", current.label)


def allowed_actions(current: ApplicationStatus) -> list[str]:
    return [action for (state, action) in APPLICATION_TRANSITIONS if state == current]


class DocumentStatus(str, enum.Enum):
    AWAITING_CHECK = "awaiting_check"
    VERIFIED = "verified"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"

    @property
    def label(self) -> str:
        return {
            "awaiting_check": "Awaiting check",
            "verified": "Verified",
            "rejected": "Rejected",
            "superseded": "Replaced",
        }[self.value]


class SectionStatus(str, enum.Enum):
    NOT_STARTED = "Not yet started"
    IN_PROGRESS = "In progress"
    COMPLETED = "Completed"
    CANNOT_START = "Cannot start yet"


class LotOutcome(str, enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def label(self) -> str:
        return {"approve": "Approve", "reject": "Reject"}[self.value]


class LotEvaluationStatus(str, enum.Enum):
    """Per lot applied for: evaluated, recommended by an evaluator, then
    confirmed (decided) or returned by a different person (four eyes)."""
    OPEN = "open"
    RECOMMENDED = "recommended"
    DECIDED = "decided"

    @property
    def label(self) -> str:
        return {"open": "Being evaluated", "recommended": "Awaiting moderation",
                "decided": "Decided"}[self.value]


L = LotEvaluationStatus
LOT_EVALUATION_TRANSITIONS: dict[tuple[LotEvaluationStatus, str], LotEvaluationStatus] = {
    (L.OPEN, "recommend"): L.RECOMMENDED,
    (L.RECOMMENDED, "return"): L.OPEN,
    (L.RECOMMENDED, "confirm"): L.DECIDED,
}


def next_lot_evaluation_status(current: LotEvaluationStatus, action: str) -> LotEvaluationStatus:
    return next_status(LOT_EVALUATION_TRANSITIONS, current, action, "a lot", current.label)


class MembershipStatus(str, enum.Enum):
    """A provider's place on a lot once approved (suspension comes with contract management)."""
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ExclusionOutcome(str, enum.Enum):
    EXCLUDED = "excluded"
    EXCLUDABLE_ACCEPTED = "excludable_accepted"
    SELF_CLEANING_ACCEPTED = "self_cleaning_accepted"

    @property
    def label(self) -> str:
        return {"excluded": "Excluded",
                "excludable_accepted": "Excludable but accepted",
                "self_cleaning_accepted": "Self-cleaning accepted"}[self.value]


class PriceSource(str, enum.Enum):
    APPLICATION = "application"
    FEE_REVIEW = "fee_review"
    NEGOTIATION = "negotiation"


class SuspensionReason(str, enum.Enum):
    SAFEGUARDING = "safeguarding"
    NON_COMPLIANCE = "non_compliance"
    EXPIRED_EVIDENCE = "expired_evidence"
    PERFORMANCE = "performance"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"safeguarding": "Safeguarding", "non_compliance": "Non-compliance",
                "expired_evidence": "Expired evidence", "performance": "Performance",
                "other": "Other"}[self.value]


class ConcernStatus(str, enum.Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


CONCERN_TRANSITIONS: dict[tuple[ConcernStatus, str], ConcernStatus] = {
    (ConcernStatus.OPEN, "investigate"): ConcernStatus.INVESTIGATING,
    (ConcernStatus.OPEN, "close"): ConcernStatus.CLOSED,
    (ConcernStatus.INVESTIGATING, "close"): ConcernStatus.CLOSED,
}


def next_concern_status(current: ConcernStatus, action: str) -> ConcernStatus:
    return next_status(CONCERN_TRANSITIONS, current, action, "a concern", current.label)


class ConcernCategory(str, enum.Enum):
    SAFEGUARDING = "safeguarding"
    QUALITY_OF_CARE = "quality_of_care"
    MISSING_EPISODES = "missing_episodes"
    COMPLAINT = "complaint"
    OFSTED = "ofsted"
    CONTRACT = "contract"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"safeguarding": "Safeguarding alert", "quality_of_care": "Quality of care",
                "missing_episodes": "Missing episodes", "complaint": "Complaint",
                "ofsted": "Ofsted judgement", "contract": "Contract compliance",
                "other": "Other"}[self.value]


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class RemovalStatus(str, enum.Enum):
    PENDING = "pending"      # requested, awaiting a second person
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class ComplianceStatus(str, enum.Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"

    @property
    def label(self) -> str:
        return {"compliant": "Compliant", "non_compliant": "Non-compliant"}[self.value]


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# ------------------------------------------------------------ annual fee review

class FeeReviewStatus(str, enum.Enum):
    """A fee review round: prepared, open to providers (invitations sent),
    closed (late non-responders recorded; negotiations may still finish)."""
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"draft": "Not yet open", "open": "Open", "closed": "Closed"}[self.value]


FEE_REVIEW_TRANSITIONS: dict[tuple[FeeReviewStatus, str], FeeReviewStatus] = {
    (FeeReviewStatus.DRAFT, "open"): FeeReviewStatus.OPEN,
    (FeeReviewStatus.OPEN, "close"): FeeReviewStatus.CLOSED,
}


def next_fee_review_status(current: FeeReviewStatus, action: str) -> FeeReviewStatus:
    return next_status(FEE_REVIEW_TRANSITIONS, current, action, "a fee review round", current.label)


class SubmissionStatus(str, enum.Enum):
    """One provider's resubmission in a round."""
    INVITED = "invited"                      # not started
    DRAFT = "draft"                          # saved, not submitted
    SUBMITTED = "submitted"                  # with commissioners
    NEGOTIATING = "negotiating"              # counter-offers await the provider
    AWAITING_APPROVAL = "awaiting_approval"  # above guidance: a second person must agree
    AGREED = "agreed"                        # prices set from the effective date
    NO_RESPONSE = "no_response"              # round closed without a submission

    @property
    def label(self) -> str:
        return {"invited": "Not started", "draft": "In progress", "submitted": "Submitted",
                "negotiating": "Counter-offer made", "awaiting_approval": "Awaiting second approval",
                "agreed": "Agreed", "no_response": "No response"}[self.value]


S = SubmissionStatus
SUBMISSION_TRANSITIONS: dict[tuple[SubmissionStatus, str], SubmissionStatus] = {
    (S.INVITED, "save"): S.DRAFT,
    (S.DRAFT, "save"): S.DRAFT,
    (S.INVITED, "submit"): S.SUBMITTED,
    (S.DRAFT, "submit"): S.SUBMITTED,
    (S.SUBMITTED, "counter"): S.NEGOTIATING,
    (S.NEGOTIATING, "respond"): S.SUBMITTED,
    (S.SUBMITTED, "agree"): S.AGREED,
    (S.SUBMITTED, "propose_agreement"): S.AWAITING_APPROVAL,
    (S.AWAITING_APPROVAL, "approve"): S.AGREED,
    (S.AWAITING_APPROVAL, "return"): S.SUBMITTED,
    (S.INVITED, "close"): S.NO_RESPONSE,
    (S.DRAFT, "close"): S.NO_RESPONSE,
    # An extension granted after the round closed lets the provider in again.
    (S.NO_RESPONSE, "extend"): S.DRAFT,
}
# The provider may still change its proposal.
SUBMISSION_EDITABLE = {S.INVITED, S.DRAFT}


def next_submission_status(current: SubmissionStatus, action: str) -> SubmissionStatus:
    return next_status(SUBMISSION_TRANSITIONS, current, action, "a fee review submission",
                       current.label)


class LineDecision(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"                  # the proposal is agreed
    COUNTERED = "countered"                # a commissioner offered another price
    COUNTER_ACCEPTED = "counter_accepted"  # the provider accepted the counter-offer
    REJECTED = "rejected"                  # the current price stands

    @property
    def label(self) -> str:
        return {"pending": "To decide", "accepted": "Accepted", "countered": "Counter-offer",
                "counter_accepted": "Counter-offer accepted",
                "rejected": "Rejected (current price stands)"}[self.value]
