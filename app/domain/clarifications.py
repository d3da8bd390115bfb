"""Clarification: an evaluator asks the provider one or more questions, the
application waits on the provider, and the provider's answers (with an
optional document) send it back into evaluation.

Time waiting on the provider is kept apart from evaluation time: the clock
starts when questions are asked (`waiting_since`) and its total is added to
`waiting_seconds` when they are answered.
"""
from datetime import date, datetime

import sqlalchemy as sa

from app.domain import audit, pricing, snapshots
from app.domain.states import ApplicationStatus, IllegalTransition, Role, next_application_status
from app.email import unique_addresses
from app.extensions import db
from app.models import Clarification, User, utcnow

MAX_QUESTIONS = 5
MAX_QUESTION_CHARS = 5_000
MAX_ANSWER_CHARS = 20_000


class ClarificationError(Exception):
    """A rule refused the questions or answers; the message is for the user."""


def open_questions(clarifications) -> list[Clarification]:
    return [c for c in clarifications if c.answer is None]


# ---------------------------------------------------------------- asking

def ask(ctx: audit.AuditContext, application, user, questions: list[str], *,
        placement_type_id: int | None = None) -> list[Clarification]:
    """Put questions to the provider and start the waiting clock.

    `placement_type_id` marks the first question as being about that ceiling
    price. Raises IllegalTransition unless the application is in evaluation,
    ClarificationError when there is no question; nothing changes then.
    """
    questions = [q.strip() for q in questions if q and q.strip()]
    if not questions:
        raise ClarificationError("Enter a question for the provider")
    if len(questions) > MAX_QUESTIONS:
        raise ClarificationError(f"Ask up to {MAX_QUESTIONS} questions at a time")
    if any(len(q) > MAX_QUESTION_CHARS for q in questions):
        raise ClarificationError(f"Each question must be {MAX_QUESTION_CHARS:,} characters or fewer")
    before = application.status
    try:
        application.status = next_application_status(before, "request_clarification")
    except IllegalTransition:
        raise IllegalTransition(
            "You can only ask for clarification while an application is in evaluation. "
            f"This application is {before.label.lower()}.") from None
    now = utcnow()
    application.waiting_since = now
    asked = [Clarification(application_id=application.id, question=text,
                           placement_type_id=placement_type_id if n == 0 else None,
                           asked_by_id=user.id, asked_at=now)
             for n, text in enumerate(questions)]
    db.session.add_all(asked)
    application.touch()
    db.session.flush()
    audit.record(ctx, "application.clarification_requested", "application", application.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": application.status.value,
                        "questions": [c.question for c in asked]})
    return asked


# ---------------------------------------------------------------- answering

def check_answerable(application) -> None:
    """Raise IllegalTransition unless the provider has questions to answer."""
    if application.status is not ApplicationStatus.CLARIFICATION_REQUESTED:
        raise IllegalTransition(
            "There are no questions to answer: this application is "
            f"{application.status.label.lower()}.")


def answer(ctx: audit.AuditContext, application, user, answers: dict[int, str], *,
           document=None) -> list[Clarification]:
    """Answer every open question at once (clarification id -> text), with an
    optional supporting document attached to each answer; stop the waiting
    clock, return the application to evaluation and take a snapshot.

    Raises IllegalTransition when no clarification is open, ClarificationError
    when an open question has no answer; nothing changes then.
    """
    check_answerable(application)
    asked = snapshots.clarifications_of(application.id)
    pending = open_questions(asked)
    if not pending:
        raise IllegalTransition("There are no questions to answer.")
    texts = {c.id: (answers.get(c.id) or "").strip() for c in pending}
    # Numbered as the provider's page numbers them: every question ever asked.
    numbers = {c.id: n for n, c in enumerate(asked, start=1)}
    for c in pending:
        n = numbers[c.id]
        if not texts[c.id]:
            raise ClarificationError(f"Enter your answer to question {n}")
        if len(texts[c.id]) > MAX_ANSWER_CHARS:
            raise ClarificationError(
                f"Your answer to question {n} must be {MAX_ANSWER_CHARS:,} characters or fewer")
    before = application.status
    application.status = next_application_status(before, "answer_clarification")
    now = utcnow()
    waited = 0
    if application.waiting_since is not None:
        waited = max(0, int((now - application.waiting_since).total_seconds()))
    application.waiting_seconds = (application.waiting_seconds or 0) + waited
    application.waiting_since = None
    for c in pending:
        c.answer = texts[c.id]
        c.answered_by_id = user.id
        c.answered_at = now
        if document is not None:
            c.answer_document = document
    application.touch()
    db.session.flush()
    audit.record(ctx, "application.clarification_answered", "application", application.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": application.status.value,
                        "questions_answered": len(pending),
                        **({"document": document.original_filename}
                           if document is not None else {}),
                        "waited": duration_text(waited), "waited_seconds": waited})
    snapshots.take_snapshot(application, "clarification_answered")
    return pending


# ---------------------------------------------------------------- time

def evaluation_time(application, now: datetime) -> tuple[int, int]:
    """(evaluation seconds, waiting seconds) so far: time in evaluation since
    it started, less the time spent waiting on the provider, which is counted
    on its own. The clock stops at the decision (or withdrawal)."""
    end = application.decided_at or application.withdrawn_at or now
    waiting = application.waiting_seconds or 0
    if application.waiting_since is not None:
        waiting += max(0, int((end - application.waiting_since).total_seconds()))
    if application.evaluation_started_at is None:
        return 0, waiting
    elapsed = max(0, int((end - application.evaluation_started_at).total_seconds()))
    return max(0, elapsed - waiting), waiting


def duration_text(seconds: int) -> str:
    """3 days 4 hours; 2 hours 5 minutes; less than a minute."""
    days, rest = divmod(max(0, int(seconds)), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60

    def unit(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"
    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    return unit(minutes, "minute") if minutes else "less than a minute"


# ---------------------------------------------------------------- prices

def price_question(application, placement_type, on: date) -> str:
    """The question an evaluator starts from when raising a ceiling price; it
    names the upper quartile of approved providers' prices (app.domain.pricing)
    only when there are enough of them and the price is above it."""
    price = next((cp.weekly_price for cp in application.ceiling_prices
                  if cp.placement_type_id == placement_type.id), None)
    if price is None:
        return f"Please explain why you have not given a ceiling price for {placement_type.name}."
    quartile = pricing.price_distribution(placement_type.lot_id, on).get(
        placement_type.id, pricing.EMPTY).upper_quartile
    text = f"Please explain your ceiling price of £{price:,.2f} a week for {placement_type.name}"
    if quartile is not None and price > quartile:
        text += (f", which is above the upper quartile of approved providers' ceiling prices "
                 f"for this placement type (£{quartile:,.2f})")
    return text + (". Tell us what the price includes and how it is made up, for example "
                   "staffing ratios, therapy or education included.")


# ---------------------------------------------------------------- who is told

def provider_recipients(application) -> list[str]:
    """The provider's administrators and its contact address, each once."""
    admins = db.session.execute(
        sa.select(User.email).where(User.provider_id == application.provider_id,
                                    User.role == Role.PROVIDER_ADMIN,
                                    User.is_active_account.is_(True))
        .order_by(User.id)
    ).scalars().all()
    return unique_addresses([*admins, application.provider.contact_email])


def evaluator_recipients(application, answered: list[Clarification]) -> list[str]:
    """The assigned evaluator and anyone else who asked the questions answered."""
    ids = [application.assigned_evaluator_id, *(c.asked_by_id for c in answered)]
    ids = [i for i in dict.fromkeys(ids) if i is not None]
    if not ids:
        return []
    users = {u.id: u for u in db.session.execute(
        sa.select(User).where(User.id.in_(ids), User.is_active_account.is_(True))).scalars()}
    return unique_addresses([users[i].email for i in ids if i in users])

