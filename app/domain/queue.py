"""The evaluation queue and who holds each application.

The queue lists every application received (never a draft), filtered, sorted
and paginated in SQL: one query for the page, one for its count, one for the
counts by status, whatever the number of rows. "Days waiting" is time since
submission that the lead authority has had the application: time waiting on
the provider for a clarification (Application.waiting_seconds, plus the
current wait since Application.waiting_since) is not counted, and the clock
stops once the application is decided or withdrawn.
"""
import math
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import contains_eager, joinedload, selectinload
from sqlalchemy.sql.functions import FunctionElement

from app.domain import audit
from app.domain.evaluation import EVALUATING, start_evaluation
from app.domain.states import ApplicationStatus, Role
from app.extensions import db
from app.models import Application, ApplicationLot, Dps, Lot, Provider, User, utcnow

PER_PAGE = 25
DAY = 86400
# Statuses in which the lead authority owes the provider an answer.
OPEN = (ApplicationStatus.SUBMITTED, *EVALUATING)
QUEUE_STATUSES = tuple(s for s in ApplicationStatus if s is not ApplicationStatus.DRAFT)
ASSIGNABLE_ROLES = (Role.EVALUATOR, Role.MANAGER)
SORTS = {"submitted": "Date submitted", "waiting": "Days waiting", "provider": "Provider name"}


class AssignmentError(Exception):
    """Taking or assigning refused; the message is written for the staff member."""


class HeldByOther(AssignmentError):
    """Another evaluator already holds the application."""


# ------------------------------------------------------------------ waiting time

def _epoch(moment: datetime) -> int:
    """Seconds since 1970 of a stored (naive UTC) timestamp."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def seconds_waiting(application, now: datetime) -> int | None:
    """Seconds the lead authority has had the application; None once it is
    no longer waiting on the lead authority (decided or withdrawn)."""
    if application.status not in OPEN or application.submitted_at is None:
        return None
    paused = application.waiting_seconds or 0
    if application.waiting_since is not None:
        paused += _epoch(now) - _epoch(application.waiting_since)
    return max(0, _epoch(now) - _epoch(application.submitted_at) - paused)


def days_waiting(application, now: datetime) -> int | None:
    seconds = seconds_waiting(application, now)
    return None if seconds is None else seconds // DAY


class epoch_seconds(FunctionElement):
    """Whole seconds since 1970 of a naive UTC timestamp column, truncated as
    `_epoch` does, so SQL and Python agree to the second."""
    type = sa.BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"CAST(STRFTIME('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    # PostgreSQL keeps fractions of a second: drop them (floor, not round).
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def seconds_waiting_sql(now: datetime):
    """`seconds_waiting` as a SQL expression."""
    now_s = sa.literal(_epoch(now), sa.BigInteger)
    current_wait = sa.case((Application.waiting_since.is_not(None),
                            now_s - epoch_seconds(Application.waiting_since)), else_=0)
    return sa.case(
        (Application.status.in_(OPEN),
         now_s - epoch_seconds(Application.submitted_at)
         - sa.func.coalesce(Application.waiting_seconds, 0) - current_wait),
        else_=None)


# ------------------------------------------------------------------ the queue

@dataclass(frozen=True)
class QueueFilters:
    lot_id: int | None = None
    status: ApplicationStatus | None = None
    evaluator_id: int | None = None
    unassigned: bool = False
    waiting_over_days: int | None = None  # shown days waiting greater than this
    sort: str = "submitted"
    descending: bool = True
    page: int = 1


@dataclass(frozen=True)
class QueueRow:
    application: Application
    seconds_waiting: int | None

    @property
    def days_waiting(self) -> int | None:
        return None if self.seconds_waiting is None else int(self.seconds_waiting) // DAY


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    per_page: int = PER_PAGE

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


RECEIVED = (Application.submitted_at.is_not(None), Application.status != ApplicationStatus.DRAFT)


def _provider_name():
    return sa.func.lower(sa.func.coalesce(sa.func.nullif(Provider.trading_name, ""),
                                          Provider.legal_name))


def _criteria(filters: QueueFilters, waited) -> list:
    criteria = list(RECEIVED)
    if filters.lot_id is not None:
        criteria.append(Application.lots.any(ApplicationLot.lot_id == filters.lot_id))
    if filters.status is not None:
        criteria.append(Application.status == filters.status)
    if filters.unassigned:
        criteria.append(Application.assigned_evaluator_id.is_(None))
    elif filters.evaluator_id is not None:
        criteria.append(Application.assigned_evaluator_id == filters.evaluator_id)
    if filters.waiting_over_days is not None:
        criteria.append(waited >= (filters.waiting_over_days + 1) * DAY)
    return criteria


def _order(filters: QueueFilters, waited) -> list:
    def direction(column):
        return column.desc() if filters.descending else column.asc()
    if filters.sort == "waiting":
        # Applications no longer waiting have no days waiting: always last.
        return [sa.case((waited.is_(None), 1), else_=0), direction(waited),
                direction(Application.id)]
    if filters.sort == "provider":
        return [direction(_provider_name()), direction(Application.id)]
    return [direction(Application.submitted_at), direction(Application.id)]


def queue_page(filters: QueueFilters, now: datetime, per_page: int = PER_PAGE) -> QueuePage:
    """One page of the queue. A page past the end shows the last page."""
    waited = seconds_waiting_sql(now)
    criteria = _criteria(filters, waited)
    total = db.session.execute(
        sa.select(sa.func.count(Application.id)).join(Application.provider).where(*criteria)
    ).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(filters.page, 1), pages)
    rows = db.session.execute(
        sa.select(Application, waited.label("seconds_waiting"))
        .join(Application.provider)
        .where(*criteria)
        .options(contains_eager(Application.provider),
                 joinedload(Application.assigned_evaluator),
                 selectinload(Application.lots).selectinload(ApplicationLot.lot))
        .order_by(*_order(filters, waited))
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return QueuePage([QueueRow(a, None if s is None else int(s)) for a, s in rows],
                     total, page, pages, per_page)


def counts_by_status() -> dict[ApplicationStatus, int]:
    """How many applications received are in each status (every status listed)."""
    found = dict(db.session.execute(
        sa.select(Application.status, sa.func.count()).where(*RECEIVED)
        .group_by(Application.status)).all())
    return {status: found.get(status, 0) for status in QUEUE_STATUSES}


def queue_lots() -> list[Lot]:
    """Lots to filter by: of every DPS, in order."""
    return db.session.execute(
        sa.select(Lot).join(Dps, Lot.dps_id == Dps.id).options(contains_eager(Lot.dps))
        .order_by(Dps.opens_on, Dps.id, Lot.number)
    ).scalars().all()


def assignable_staff() -> list[User]:
    """Active accounts that can evaluate an application."""
    return db.session.execute(
        sa.select(User).where(User.role.in_(ASSIGNABLE_ROLES), User.is_active_account.is_(True))
        .order_by(User.full_name, User.id)
    ).scalars().all()


# ------------------------------------------------------------------ assignment

def _not_assignable(application) -> AssignmentError:
    return AssignmentError(f"This application is {application.status.label.lower()}, "
                           "so it cannot be assigned for evaluation.")


def _reassign(ctx: audit.AuditContext, application, evaluator, reason: str | None) -> None:
    before = application.assigned_evaluator_id
    application.assigned_evaluator_id = evaluator.id
    application.assigned_at = utcnow()
    application.touch()
    audit.record(ctx, "application.evaluator_assigned", "application", application.id,
                 provider_id=application.provider_id, before={"evaluator_id": before},
                 after={"evaluator_id": evaluator.id}, reason=reason, internal=True)


def take(ctx: audit.AuditContext, application, user) -> bool:
    """`user` takes the application: a submitted one starts evaluation; one in
    evaluation that nobody holds is assigned to them. Returns False when they
    already hold it (nothing changes). Raises HeldByOther when a colleague
    holds it: only a manager can reassign it."""
    if user.role not in ASSIGNABLE_ROLES:
        raise AssignmentError("Only evaluators and commissioning managers can take applications.")
    if application.status is ApplicationStatus.SUBMITTED:
        start_evaluation(ctx, application, user)
        return True
    if application.status not in EVALUATING:
        raise _not_assignable(application)
    if application.assigned_evaluator_id == user.id:
        return False
    if application.assigned_evaluator_id is not None:
        holder = db.session.get(User, application.assigned_evaluator_id)
        raise HeldByOther(f"{holder.full_name} is already evaluating this application. "
                          "Ask a commissioning manager if it should be reassigned.")
    _reassign(ctx, application, user, None)
    return True


def assign(ctx: audit.AuditContext, application, evaluator, *, reason: str | None = None) -> None:
    """A manager gives the application to `evaluator`: starts evaluation of a
    submitted application, or reassigns one in evaluation (audited with the
    evaluator before and after)."""
    if evaluator.role not in ASSIGNABLE_ROLES or not evaluator.is_active_account:
        raise AssignmentError("Select an evaluator or commissioning manager with an active account")
    if application.status is ApplicationStatus.SUBMITTED:
        start_evaluation(ctx, application, evaluator)
        return
    if application.status not in EVALUATING:
        raise _not_assignable(application)
    if application.assigned_evaluator_id == evaluator.id:
        raise AssignmentError(f"{evaluator.full_name} is already evaluating this application")
    _reassign(ctx, application, evaluator, reason)
