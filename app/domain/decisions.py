"""Recommendation, moderation (four eyes) and the decision on each lot, and
what an approved lot gives the provider: a membership and its prices.

An evaluator recommends approve or reject for each lot applied for; once every
lot is recommended the application is "recommended". A commissioning manager
who did not recommend a lot confirms it or returns it with comments. When
every lot is confirmed the application is decided: approved lots become active
memberships and the application's prices apply from the decision date.

Nothing here reads the request or commits; views commit once and email after.
"""
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from app.domain import audit
from app.domain.applications import VersionConflict
from app.domain.prices import NewPrice, replace_prices
from app.domain.states import (ApplicationStatus, IllegalTransition, LotEvaluationStatus,
                               LotOutcome, MembershipStatus, PriceSource, Role,
                               next_application_status, next_lot_evaluation_status)
from app.extensions import db
from app.models import Membership, utcnow

CONFLICT_MESSAGE = ("This application has changed since you opened this page. Nothing was "
                    "saved: check the latest details and try again.")
FOUR_EYES_MESSAGE = ("You recommended this lot, so a different commissioning manager must "
                     "confirm or return it.")
MODERATOR_ONLY_MESSAGE = "Only a commissioning manager can confirm or return a recommendation."
MAX_TEXT = 5000


class DecisionError(Exception):
    """A rule refused the action; the message is written for the member of staff."""


class FourEyesViolation(DecisionError):
    """The person who recommended a lot tried to moderate it."""


class NotAModerator(DecisionError):
    """Only commissioning managers moderate."""


def check_version(lot_evaluation, submitted) -> None:
    if str(submitted or "") != str(lot_evaluation.version):
        raise VersionConflict()


def all_lot_evaluations(application) -> list:
    return [alot.evaluation for alot in application.lots]


def _lot_number(lot_evaluation) -> int:
    return lot_evaluation.application_lot.lot.number


def _required(text: str | None, name: str) -> str:
    """`name` completes "Enter ..." (e.g. "the feedback for the provider")."""
    text = (text or "").strip()
    if not text:
        raise DecisionError(f"Enter {name}")
    if len(text) > MAX_TEXT:
        raise DecisionError(f"{name[0].upper()}{name[1:]} must be {MAX_TEXT:,} characters "
                            "or fewer")
    return text


def can_moderate(lot_evaluation, user) -> bool:
    """The four-eyes rule as the page shows it; `check_moderator` enforces it."""
    return user.role is Role.MANAGER and lot_evaluation.recommended_by_id != user.id


def check_moderator(lot_evaluation, user) -> None:
    if user.role is not Role.MANAGER:
        raise NotAModerator(MODERATOR_ONLY_MESSAGE)
    if lot_evaluation.recommended_by_id is not None and \
            lot_evaluation.recommended_by_id == user.id:
        raise FourEyesViolation(FOUR_EYES_MESSAGE)


# ---------------------------------------------------------------- recommend

def recommend(ctx: audit.AuditContext, application, lot_evaluation, evaluator, *,
              outcome: LotOutcome, reasons: str, feedback: str, version) -> bool:
    """Recommend approve or reject for one lot. Returns True when this was the
    last lot to be recommended, so the application is now recommended."""
    reasons = _required(reasons, "your reasons for the recommendation")
    feedback = _required(feedback, "the feedback for the provider")
    if not isinstance(outcome, LotOutcome):
        raise DecisionError("Select whether to recommend approval or rejection")
    check_version(lot_evaluation, version)
    if application.status is not ApplicationStatus.IN_EVALUATION:
        raise IllegalTransition(
            f"You can only recommend while the application is in evaluation; it is "
            f"{application.status.label.lower()}.")
    before = lot_evaluation.status
    lot_evaluation.status = next_lot_evaluation_status(before, "recommend")
    lot_evaluation.recommendation = outcome
    lot_evaluation.recommendation_reasons = reasons
    lot_evaluation.feedback = feedback
    lot_evaluation.recommended_by_id = evaluator.id
    lot_evaluation.recommended_at = utcnow()
    application.touch()  # one version for the whole application: see the module doc
    audit.record(ctx, "lot_evaluation.recommended", "lot_evaluation", lot_evaluation.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": lot_evaluation.status.value, "application_id": application.id,
                        "lot": _lot_number(lot_evaluation), "recommendation": outcome.value,
                        "feedback": feedback},
                 reason=reasons, internal=True)
    if any(ev.status is not LotEvaluationStatus.RECOMMENDED
           for ev in all_lot_evaluations(application)):
        return False
    app_before = application.status
    application.status = next_application_status(app_before, "recommend")
    audit.record(ctx, "application.recommended", "application", application.id,
                 provider_id=application.provider_id, before={"status": app_before.value},
                 after={"status": application.status.value})
    return True


# ---------------------------------------------------------------- moderate

def return_recommendation(ctx: audit.AuditContext, application, lot_evaluation, moderator, *,
                          comment: str, version) -> int | None:
    """Send a lot's recommendation back to evaluation with the manager's
    comments. Returns the id of the evaluator who recommended it."""
    check_moderator(lot_evaluation, moderator)
    comment = _required(comment, "your comments for the evaluator")
    check_version(lot_evaluation, version)
    if application.status not in (ApplicationStatus.IN_EVALUATION,
                                  ApplicationStatus.CLARIFICATION_REQUESTED,
                                  ApplicationStatus.RECOMMENDED):
        raise IllegalTransition(
            f"You cannot return a lot of an application that is "
            f"{application.status.label.lower()}.")
    before = lot_evaluation.status
    lot_evaluation.status = next_lot_evaluation_status(before, "return")
    recommended_by_id = lot_evaluation.recommended_by_id
    previous = lot_evaluation.recommendation
    # Reasons and feedback stay as a starting point for the next recommendation.
    lot_evaluation.recommendation = None
    lot_evaluation.recommended_by_id = None
    lot_evaluation.recommended_at = None
    lot_evaluation.moderation_comment = comment
    lot_evaluation.moderated_by_id = moderator.id
    lot_evaluation.moderated_at = utcnow()
    application.touch()
    audit.record(ctx, "lot_evaluation.returned", "lot_evaluation", lot_evaluation.id,
                 provider_id=application.provider_id,
                 before={"status": before.value,
                         "recommendation": previous.value if previous else None,
                         "recommended_by_id": recommended_by_id},
                 after={"status": lot_evaluation.status.value, "application_id": application.id,
                        "lot": _lot_number(lot_evaluation)},
                 reason=comment, internal=True)
    if application.status is ApplicationStatus.RECOMMENDED:
        app_before = application.status
        application.status = next_application_status(app_before, "return_to_evaluation")
        audit.record(ctx, "application.returned_to_evaluation", "application", application.id,
                     provider_id=application.provider_id, before={"status": app_before.value},
                     after={"status": application.status.value})
    return recommended_by_id


def confirm(ctx: audit.AuditContext, application, lot_evaluation, moderator, *, version,
            on: date, comment: str | None = None) -> bool:
    """Confirm a lot's recommendation as its decision. Returns True when this
    was the last lot, so the application is now decided (and its effects,
    memberships and prices, applied from `on`)."""
    check_moderator(lot_evaluation, moderator)
    check_version(lot_evaluation, version)
    if application.status is not ApplicationStatus.RECOMMENDED:
        raise IllegalTransition(
            "You can confirm a recommendation once every lot of the application has been "
            f"recommended; the application is {application.status.label.lower()}.")
    before = lot_evaluation.status
    new_status = next_lot_evaluation_status(before, "confirm")
    if lot_evaluation.recommendation is None:  # a recommended lot always has one
        raise DecisionError("This lot has no recommendation to confirm.")
    lot_evaluation.status = new_status
    now = utcnow()
    lot_evaluation.outcome = lot_evaluation.recommendation
    lot_evaluation.moderation_comment = (comment or "").strip()[:MAX_TEXT] or None
    lot_evaluation.moderated_by_id = moderator.id
    lot_evaluation.moderated_at = now
    lot_evaluation.decided_at = now
    application.touch()
    audit.record(ctx, "lot_evaluation.decided", "lot_evaluation", lot_evaluation.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": lot_evaluation.status.value, "application_id": application.id,
                        "lot": _lot_number(lot_evaluation),
                        "outcome": lot_evaluation.outcome.value,
                        "recommended_by_id": lot_evaluation.recommended_by_id},
                 reason=lot_evaluation.moderation_comment, internal=True)
    if any(ev.status is not LotEvaluationStatus.DECIDED
           for ev in all_lot_evaluations(application)):
        return False
    decide(ctx, application, on)
    return True


# ---------------------------------------------------------------- decision

@dataclass(frozen=True)
class LotDecision:
    lot: object
    outcome: LotOutcome
    feedback: str


def lot_decisions(application) -> list[LotDecision]:
    return [LotDecision(alot.lot, alot.evaluation.outcome, alot.evaluation.feedback or "")
            for alot in application.lots
            if alot.evaluation is not None and alot.evaluation.outcome is not None]


def decide(ctx: audit.AuditContext, application, on: date) -> None:
    """Every lot is decided: the application is, and approved lots take effect."""
    before = application.status
    application.status = next_application_status(before, "decide")
    application.decided_at = utcnow()
    application.touch()
    audit.record(ctx, "application.decided", "application", application.id,
                 provider_id=application.provider_id, before={"status": before.value},
                 after={"status": application.status.value, "decided_on": on.isoformat(),
                        "outcomes": {str(d.lot.number): d.outcome.value
                                     for d in lot_decisions(application)}})
    for alot in application.lots:
        if alot.evaluation.outcome is LotOutcome.APPROVE:
            membership = activate_membership(ctx, application, alot.lot, on)
            set_prices_from_application(ctx, application, alot.lot, membership, on)


def activate_membership(ctx: audit.AuditContext, application, lot, on: date) -> Membership:
    """An active membership of the lot from `on`: a new one, or the provider's
    earlier one (one row per provider and lot) made active again."""
    membership = db.session.execute(
        sa.select(Membership).where(Membership.provider_id == application.provider_id,
                                    Membership.lot_id == lot.id)
    ).scalar_one_or_none()
    if membership is None:
        membership = Membership(provider_id=application.provider_id, lot_id=lot.id,
                                application_id=application.id, status=MembershipStatus.ACTIVE,
                                started_on=on)
        db.session.add(membership)
        db.session.flush()
        audit.record(ctx, "membership.created", "membership", membership.id,
                     provider_id=application.provider_id,
                     after={"status": membership.status.value, "lot": lot.number,
                            "started_on": on.isoformat(), "application_id": application.id})
        return membership
    before = {"status": membership.status.value, "started_on": membership.started_on.isoformat(),
              "application_id": membership.application_id}
    membership.status = MembershipStatus.ACTIVE
    membership.started_on = on
    membership.application_id = application.id
    audit.record(ctx, "membership.reactivated", "membership", membership.id,
                 provider_id=application.provider_id, before=before,
                 after={"status": membership.status.value, "lot": lot.number,
                        "started_on": on.isoformat(), "application_id": application.id})
    return membership


def application_prices(application, lot) -> list[NewPrice]:
    """The ceiling prices and service rates the application offered for `lot`."""
    placement_ids = {pt.id for pt in lot.placement_types}
    new = [NewPrice(amount=cp.weekly_price, placement_type_id=cp.placement_type_id)
           for cp in sorted(application.ceiling_prices, key=lambda cp: cp.placement_type_id)
           if cp.placement_type_id in placement_ids]
    new += [NewPrice(amount=r.rate, service_item_id=r.service_item_id,
                     custom_name=None if r.service_item_id else r.custom_name,
                     custom_unit=None if r.service_item_id else r.custom_unit)
            for r in application.service_rates if r.lot_id == lot.id]
    return new


def set_prices_from_application(ctx: audit.AuditContext, application, lot, membership,
                                on: date) -> None:
    closed, added = replace_prices(application.provider_id, lot.id, on,
                                   application_prices(application, lot),
                                   source=PriceSource.APPLICATION, source_id=application.id)
    audit.record(ctx, "membership.prices_set", "membership", membership.id,
                 provider_id=application.provider_id,
                 before={"closed_price_ids": [p.id for p in closed]} if closed else None,
                 after={"lot": lot.number, "valid_from": on.isoformat(),
                        "application_id": application.id,
                        "prices": [{"placement_type_id": p.placement_type_id,
                                    "service_item_id": p.service_item_id,
                                    "custom_name": p.custom_name,
                                    "amount": str(p.amount)} for p in added]})
