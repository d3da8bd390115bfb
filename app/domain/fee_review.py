"""The annual fee review: rounds, invitations, providers' proposals, the
commissioners' decisions and the agreement that puts new prices in force.

A round is prepared (DRAFT) and opened (OPEN): opening queues a job that
invites every provider holding an active membership of the round's lots, with
one line per price it holds on those lots. The provider proposes new amounts
line by line and submits before the deadline (the closing date, or its own
extension). Reviewers accept, counter or reject each line; once every line is
settled the submission is agreed, straight away when every agreed line is
within guidance, otherwise once a second commissioning manager approves
(four eyes). Agreed prices are added as new Price rows valid from the round's
effective date (never backdated), so history is never rewritten.

Percentages are Decimals in percent (4.1 means 4.1 %). Nothing here reads the
request or commits: views and jobs commit once, then send what
`*_emails` functions return.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified

from app.domain import audit
from app.domain.applications import today as uk_today
from app.domain.compliance import Outgoing
from app.domain.prices import NewPrice, current_prices, in_force, replace_prices
from app.domain.states import (SUBMISSION_EDITABLE, DocumentStatus, FeeReviewStatus,
                               IllegalTransition, JobStatus, LineDecision, MembershipStatus,
                               PriceSource, Role, SubmissionStatus, next_fee_review_status,
                               next_submission_status)
from app.email import unique_addresses
from app.extensions import db
from app.models import (Document, FeeReviewLine, FeeReviewMessage, FeeReviewRound,
                        FeeReviewRoundLot, FeeReviewSubmission, JobRun, Lot, Membership,
                        PlacementType, Price, Provider, ServiceItem, User, utcnow)

INVITATION_JOB = "fee_review_invitations"
INVITATION_BATCH = 500
MAX_TEXT = 5000
MAX_NAME = 200
# Additional-service rates have no lot maximum; this keeps them within the column.
MAX_RATE = Decimal("1000000")
CENT = Decimal("0.01")
PERCENT_STEP = Decimal("0.001")   # what the PERCENT columns hold
HUNDRED = Decimal("100")

GUIDANCE_METHODS = {"direct": "Expected uplift entered by the commissioners",
                    "model": "Weighted model: staff costs x National Living Wage change + "
                             "other costs x CPIH"}
ROUND_MANAGERS = (Role.MANAGER, Role.ADMIN)
REVIEWERS = (Role.EVALUATOR, Role.MANAGER)
OPEN_SUBMISSION = (SubmissionStatus.INVITED, SubmissionStatus.DRAFT)

CONFLICT_MESSAGE = ("This fee review has been changed by someone else since you opened this "
                    "page. Nothing was saved: check the latest details and try again.")
FOUR_EYES_MESSAGE = ("You proposed this agreement, so a different commissioning manager must "
                     "approve or return it.")


class FeeReviewError(Exception):
    """A rule refused the action. `message` is written for the person acting;
    `errors` (field key -> message) is set when the refusal is about fields."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


# ------------------------------------------------------------------ arithmetic

def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def uplift(current: Decimal, new: Decimal) -> Decimal:
    """The change from `current` to `new` in percent, 2 dp (ROUND_HALF_UP)."""
    current, new = Decimal(current), Decimal(new)
    if current <= 0:
        return Decimal("0.00")
    return ((new - current) * HUNDRED / current).quantize(CENT, rounding=ROUND_HALF_UP)


def exceeds(current: Decimal, new: Decimal, percent: Decimal) -> bool:
    """True when `new` is more than `percent` above `current`, exactly (a hard
    cap is not widened by rounding the uplift for display)."""
    return Decimal(new) * HUNDRED > Decimal(current) * (HUNDRED + Decimal(percent))


def model_guidance(staff_cost_weight, nlw_change, cpih) -> Decimal:
    """staff weight x NLW change + other costs x CPIH, in percent, 2 dp:
    70 % staff, NLW +4.1 %, CPIH +3.4 % -> 3.89 %."""
    weight = Decimal(staff_cost_weight)
    value = weight * Decimal(nlw_change) / HUNDRED + (HUNDRED - weight) * Decimal(cpih) / HUNDRED
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def max_amount_within(current: Decimal, percent: Decimal) -> Decimal:
    """The highest amount in whole pence at most `percent` above `current`."""
    return (Decimal(current) * (HUNDRED + Decimal(percent)) / HUNDRED).quantize(
        CENT, rounding=ROUND_DOWN)


def _pct(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def _gbp(value: Decimal) -> str:
    return f"£{Decimal(value):,.2f}"


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


# ---------------------------------------------------------------- permissions

def _require(actor, roles, message: str) -> None:
    if actor is None or actor.role not in roles:
        raise FeeReviewError(message)


def _require_round_manager(actor) -> None:
    _require(actor, ROUND_MANAGERS,
             "Only a commissioning manager or an administrator can manage fee review rounds.")


def _require_reviewer(actor) -> None:
    _require(actor, REVIEWERS, "Only evaluators and commissioning managers review fee reviews.")


def _require_provider(actor, submission) -> None:
    if actor is None or not actor.role.is_provider or actor.provider_id != submission.provider_id:
        raise FeeReviewError("Only the provider's own users can change its fee review.")


def _transition(current, action: str, next_fn):
    try:
        return next_fn(current, action)
    except IllegalTransition as exc:
        raise FeeReviewError(str(exc)) from None


# ---------------------------------------------------------------------- rounds

@dataclass
class RoundInput:
    name: str
    lot_ids: list[int]
    opens_on: date | None
    closes_on: date | None
    effective_on: date | None
    guidance_method: str                   # "direct" | "model"
    guidance_uplift: Decimal | None        # direct
    staff_cost_weight: Decimal | None
    nlw_change: Decimal | None
    cpih: Decimal | None
    cap_uplift: Decimal | None
    message: str = ""

    def guidance(self) -> Decimal | None:
        """The expected uplift these inputs give, or None when incomplete."""
        if self.guidance_method == "model":
            if None in (self.staff_cost_weight, self.nlw_change, self.cpih):
                return None
            return model_guidance(self.staff_cost_weight, self.nlw_change, self.cpih)
        return self.guidance_uplift


def _percent_error(value, label: str, low=Decimal("-100"), high=HUNDRED) -> str | None:
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return f"{label} must be a number"
    if not value.is_finite() or not low < value <= high:
        return f"{label} must be more than {low} and no more than {high}"
    if value != value.quantize(PERCENT_STEP):
        return f"{label} must have no more than 3 decimal places"
    return None


def validate_round(dps, data: RoundInput, today: date) -> dict[str, str]:
    """Field name -> message for everything wrong with `data`; {} when valid."""
    errors: dict[str, str] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = "Enter a name for the fee review round"
    elif len(name) > MAX_NAME:
        errors["name"] = f"Name must be {MAX_NAME} characters or fewer"
    lot_ids = list(dict.fromkeys(data.lot_ids or []))
    if not lot_ids:
        errors["lot_ids"] = "Select at least one lot"
    else:
        own = set(db.session.execute(
            sa.select(Lot.id).where(Lot.dps_id == dps.id, Lot.id.in_(lot_ids))).scalars())
        if own != set(lot_ids):
            errors["lot_ids"] = "Select lots of this DPS"
    if data.opens_on is None:
        errors["opens_on"] = "Enter the opening date"
    if data.closes_on is None:
        errors["closes_on"] = "Enter the closing date"
    elif data.closes_on < today:
        errors["closes_on"] = "The closing date must be today or in the future"
    elif data.opens_on is not None and data.closes_on < data.opens_on:
        errors["closes_on"] = "The closing date must be on or after the opening date"
    if data.effective_on is None:
        errors["effective_on"] = "Enter the date the new prices take effect"
    elif data.closes_on is not None and data.effective_on < data.closes_on:
        errors["effective_on"] = "The effective date must be on or after the closing date"
    if data.guidance_method not in GUIDANCE_METHODS:
        errors["guidance_method"] = "Select how the guidance is set"
    elif data.guidance_method == "direct":
        if data.guidance_uplift is None:
            errors["guidance_uplift"] = "Enter the expected uplift"
        elif message := _percent_error(data.guidance_uplift, "Expected uplift"):
            errors["guidance_uplift"] = message
    else:
        if data.staff_cost_weight is None:
            errors["staff_cost_weight"] = "Enter the share of costs that are staff costs"
        elif message := _percent_error(data.staff_cost_weight, "Staff cost share",
                                       low=Decimal("-0.001")):
            errors["staff_cost_weight"] = message
        for key, label in (("nlw_change", "National Living Wage change"), ("cpih", "CPIH")):
            value = getattr(data, key)
            if value is None:
                errors[key] = f"Enter the {label}"
            elif message := _percent_error(value, label):
                errors[key] = message
    if data.cap_uplift is not None:
        if message := _percent_error(data.cap_uplift, "Cap"):
            errors["cap_uplift"] = message
        elif not errors.keys() & {"guidance_uplift", "staff_cost_weight", "nlw_change", "cpih",
                                  "guidance_method"}:
            guidance = data.guidance()
            if guidance is not None and Decimal(data.cap_uplift) < guidance:
                errors["cap_uplift"] = (f"The cap must be at least the guidance "
                                        f"({_pct(guidance)} %)")
    if len(data.message or "") > MAX_TEXT:
        errors["message"] = f"Message must be {MAX_TEXT:,} characters or fewer"
    return errors


def _round_state(round: FeeReviewRound) -> dict:
    return {"name": round.name, "status": round.status.value, "lot_ids": round.lot_ids,
            "opens_on": round.opens_on.isoformat(), "closes_on": round.closes_on.isoformat(),
            "effective_on": round.effective_on.isoformat(),
            "guidance_method": round.guidance_method,
            "guidance_uplift": str(round.guidance_uplift),
            "staff_cost_weight": _str(round.staff_cost_weight),
            "nlw_change": _str(round.nlw_change), "cpih": _str(round.cpih),
            "cap_uplift": _str(round.cap_uplift)}


def _str(value) -> str | None:
    return None if value is None else str(value)


def _percent(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(PERCENT_STEP)


def _apply_round(round: FeeReviewRound, data: RoundInput) -> None:
    round.name = data.name.strip()
    round.opens_on, round.closes_on, round.effective_on = (data.opens_on, data.closes_on,
                                                           data.effective_on)
    round.guidance_method = data.guidance_method
    if data.guidance_method == "model":
        round.staff_cost_weight = _percent(data.staff_cost_weight)
        round.nlw_change = _percent(data.nlw_change)
        round.cpih = _percent(data.cpih)
    else:
        round.staff_cost_weight = round.nlw_change = round.cpih = None
    round.guidance_uplift = _percent(data.guidance())
    round.cap_uplift = _percent(data.cap_uplift)
    round.message = (data.message or "").strip()
    wanted = list(dict.fromkeys(data.lot_ids))
    kept = [rl for rl in round.lots if rl.lot_id in wanted]
    have = {rl.lot_id for rl in kept}
    round.lots = kept + [FeeReviewRoundLot(lot_id=lot_id) for lot_id in wanted
                         if lot_id not in have]


def create_round(dps, data: RoundInput, actor, ctx: audit.AuditContext) -> FeeReviewRound:
    """A new round in DRAFT. Raises FeeReviewError (with .errors) if invalid."""
    _require_round_manager(actor)
    errors = validate_round(dps, data, uk_today())
    if errors:
        raise FeeReviewError("Check the details of the fee review round", errors)
    round = FeeReviewRound(dps_id=dps.id, status=FeeReviewStatus.DRAFT, created_by_id=actor.id)
    _apply_round(round, data)
    db.session.add(round)
    db.session.flush()
    audit.record(ctx, "fee_review.created", "fee_review_round", round.id,
                 after=_round_state(round))
    return round


def update_round(round: FeeReviewRound, data: RoundInput, actor, ctx: audit.AuditContext) -> None:
    """Change a round that is not open yet. Raises FeeReviewError (with .errors)."""
    _require_round_manager(actor)
    if round.status is not FeeReviewStatus.DRAFT:
        raise FeeReviewError("You can only change a fee review round before it opens.")
    errors = validate_round(round.dps, data, uk_today())
    if errors:
        raise FeeReviewError("Check the details of the fee review round", errors)
    before = _round_state(round)
    _apply_round(round, data)
    # The row itself must be updated so its version moves even when only lots changed.
    flag_modified(round, "name")
    db.session.flush()
    after = _round_state(round)
    if after != before:
        audit.record(ctx, "fee_review.updated", "fee_review_round", round.id,
                     before=before, after=after)


def _lots_in_other_open_rounds(round: FeeReviewRound) -> list[Lot]:
    return db.session.execute(
        sa.select(Lot).join(FeeReviewRoundLot, FeeReviewRoundLot.lot_id == Lot.id)
        .join(FeeReviewRound, FeeReviewRound.id == FeeReviewRoundLot.round_id)
        .where(FeeReviewRound.id != round.id, FeeReviewRound.status == FeeReviewStatus.OPEN,
               Lot.id.in_(round.lot_ids))
        .order_by(Lot.number)).scalars().all()


def open_round(round: FeeReviewRound, actor, ctx: audit.AuditContext, today: date) -> JobRun:
    """Open the round now (even before its opening date) and add the queued
    invitation job. The caller commits, then calls
    app.jobs.fee_review.enqueue_invitations(job)."""
    _require_round_manager(actor)
    new_status = _transition(round.status, "open", next_fee_review_status)
    if not round.lots:
        raise FeeReviewError("Select at least one lot before opening the round.")
    if round.closes_on < today:
        raise FeeReviewError(f"The closing date ({_day(round.closes_on)}) has passed. Change "
                             "it before opening the round.")
    clashes = _lots_in_other_open_rounds(round)
    if clashes:
        raise FeeReviewError(
            f"{', '.join(lot.title for lot in clashes)} "
            f"{'is' if len(clashes) == 1 else 'are'} already in an open fee review round. "
            "Close that round first.")
    before = round.status
    round.status = new_status
    round.opened_at = utcnow()
    round.opened_by_id = actor.id
    job = JobRun(kind=INVITATION_JOB, status=JobStatus.QUEUED, run_date=today,
                 started_by_id=actor.id)
    db.session.add(job)
    db.session.flush()
    round.invitation_job_id = job.id
    audit.record(ctx, "fee_review.opened", "fee_review_round", round.id,
                 before={"status": before.value},
                 after={"status": round.status.value, "invitation_job_id": job.id,
                        "invited_on": today.isoformat()})
    return job


def rerun_invitations(round: FeeReviewRound, actor, ctx: audit.AuditContext,
                      today: date) -> JobRun:
    """A new invitation job for an open round whose job failed or that gained
    members since: providers already invited are skipped. Caller commits,
    then enqueues."""
    _require_round_manager(actor)
    if round.status is not FeeReviewStatus.OPEN:
        raise FeeReviewError("You can only send invitations while the round is open.")
    running = round.invitation_job
    if running is not None and running.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise FeeReviewError("The invitations are still being sent. Wait for them to finish.")
    job = JobRun(kind=INVITATION_JOB, status=JobStatus.QUEUED, run_date=today,
                 started_by_id=actor.id)
    db.session.add(job)
    db.session.flush()
    round.invitation_job_id = job.id
    audit.record(ctx, "fee_review.invitations_rerun", "fee_review_round", round.id,
                 after={"invitation_job_id": job.id, "invited_on": today.isoformat()})
    return job


def close_round(round: FeeReviewRound, actor, ctx: audit.AuditContext, today: date) -> int:
    """Close the round: submissions not started or still in draft (and no
    extension still running) become NO_RESPONSE and keep their prices.
    Negotiations in progress carry on. Returns how many were marked."""
    _require_round_manager(actor)
    new_status = _transition(round.status, "close", next_fee_review_status)
    if today < round.closes_on:
        raise FeeReviewError(f"You can close this round on or after its closing date, "
                             f"{_day(round.closes_on)}.")
    lapsed = (sa.select(FeeReviewSubmission.id)
              .where(FeeReviewSubmission.round_id == round.id,
                     FeeReviewSubmission.status.in_(OPEN_SUBMISSION),
                     sa.or_(FeeReviewSubmission.extended_until.is_(None),
                            FeeReviewSubmission.extended_until < today))
              .order_by(FeeReviewSubmission.id))
    ids = db.session.execute(lapsed).scalars().all()
    for status in OPEN_SUBMISSION:  # checked against the lifecycle, once per state
        next_submission_status(status, "close")
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        # One UPDATE per chunk at national scale; version bumped by hand since
        # a bulk update skips the mapper's version counter.
        db.session.execute(
            sa.update(FeeReviewSubmission).where(FeeReviewSubmission.id.in_(chunk))
            .values(status=SubmissionStatus.NO_RESPONSE,
                    version=FeeReviewSubmission.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False))
    before = round.status
    round.status = new_status
    round.closed_at = utcnow()
    db.session.flush()
    db.session.expire_all()
    audit.record(ctx, "fee_review.closed", "fee_review_round", round.id,
                 before={"status": before.value},
                 after={"status": new_status.value, "no_response": len(ids),
                        "no_response_submission_ids": ids})
    return len(ids)


def rounds_for(dps) -> list[FeeReviewRound]:
    return db.session.execute(
        sa.select(FeeReviewRound).where(FeeReviewRound.dps_id == dps.id)
        .order_by(FeeReviewRound.effective_on.desc(), FeeReviewRound.id.desc())).scalars().all()


# ------------------------------------------------------------------ invitation

@dataclass
class _Catalogue:
    """Labels and positions of the round's lots' placement types and services,
    as plain values (they outlive each batch's commit without reloading)."""
    placement_types: dict[int, tuple[int, str]]        # id -> (position, name)
    service_items: dict[int, tuple[int, str, str]]     # id -> (position, name, unit)
    lots: dict[int, tuple[int, str]]                   # id -> (number, title)

    @classmethod
    def load(cls, lot_ids: list[int]) -> "_Catalogue":
        pts = db.session.execute(
            sa.select(PlacementType).where(PlacementType.lot_id.in_(lot_ids))).scalars()
        items = db.session.execute(
            sa.select(ServiceItem).where(ServiceItem.lot_id.in_(lot_ids))).scalars()
        lots = db.session.execute(sa.select(Lot).where(Lot.id.in_(lot_ids))).scalars()
        return cls({p.id: (p.position, p.name) for p in pts},
                   {i.id: (i.position, i.name, i.unit.value) for i in items},
                   {lot.id: (lot.number, lot.title) for lot in lots})

    def describe(self, row) -> tuple[tuple, str, str]:
        """(sort key, label, unit) of a price row read as plain columns."""
        if row.placement_type_id is not None:
            position, name = self.placement_types.get(row.placement_type_id, (0, "Weekly fee"))
            return (0, position, row.id), name, "week"
        if row.service_item_id is not None:
            position, name, unit = self.service_items.get(row.service_item_id,
                                                          (0, "Service", ""))
            return (1, position, row.id), name, unit
        unit = row.custom_unit
        return ((2, (row.custom_name or "").lower(), row.id), row.custom_name or "",
                unit.value if unit is not None else "")


def invitation_provider_ids(round: FeeReviewRound) -> list[int]:
    """Providers with an active membership of a lot of the round and no
    submission yet, in id order."""
    invited = sa.select(FeeReviewSubmission.provider_id).where(
        FeeReviewSubmission.round_id == round.id)
    return db.session.execute(
        sa.select(Membership.provider_id)
        .where(Membership.lot_id.in_(round.lot_ids), Membership.status == MembershipStatus.ACTIVE,
               Membership.provider_id.not_in(invited))
        .distinct().order_by(Membership.provider_id)).scalars().all()


def invitation_context(round: FeeReviewRound) -> dict:
    """What every invitation email of the round says, as plain values (a
    batch's emails are rendered after its commit, with nothing to reload)."""
    return {
        "round_name": round.name, "dps_name": round.dps.name,
        "guidance_method": round.guidance_method,
        "guidance": _pct(round.guidance_uplift),
        "staff_cost_weight": _pct(round.staff_cost_weight),
        "other_cost_weight": _pct(HUNDRED - round.staff_cost_weight)
        if round.staff_cost_weight is not None else "",
        "nlw_change": _pct(round.nlw_change), "cpih": _pct(round.cpih),
        "cap": _pct(round.cap_uplift) if round.cap_uplift is not None else "",
        "deadline": _day(round.closes_on), "effective_on": _day(round.effective_on),
        "message": round.message,
    }


def invite_providers(ctx: audit.AuditContext, round: FeeReviewRound, on: date, *,
                     progress: Callable[[int, int], None] | None = None,
                     outbox: list | None = None, batch_size: int | None = None) -> dict:
    """Invite every provider of the round not yet invited: one submission each
    with a line per price in force on `on` for the lots it is an active
    member of. Works in batches with a fixed number of statements each;
    `progress(done, total)` is called after each batch at a point where the
    caller commits, then sends what was added to `outbox`. Safe to re-run:
    providers already invited are skipped. Returns the report."""
    outbox = outbox if outbox is not None else []
    batch_size = batch_size or INVITATION_BATCH
    lot_ids = round.lot_ids
    provider_ids = invitation_provider_ids(round)
    already = db.session.execute(
        sa.select(sa.func.count()).select_from(FeeReviewSubmission)
        .where(FeeReviewSubmission.round_id == round.id)).scalar_one()
    total = len(provider_ids)
    catalogue = _Catalogue.load(lot_ids)
    common = invitation_context(round)
    round_id = round.id
    invited = lines_made = emails = 0
    if progress:
        progress(0, total)
    for start in range(0, total, batch_size):
        batch = provider_ids[start:start + batch_size]
        made, n_lines, n_emails = _invite_batch(ctx, round_id, on, batch, lot_ids, catalogue,
                                                common, outbox)
        invited += made
        lines_made += n_lines
        emails += n_emails
        if progress:
            progress(start + len(batch), total)
    return {"round_id": round_id, "invited": invited, "already_invited": already,
            "lines": lines_made, "emails": emails, "invited_on": on.isoformat()}


def _invite_batch(ctx, round_id, on, batch, lot_ids, catalogue, common,
                  outbox) -> tuple[int, int, int]:
    active = defaultdict(set)
    for provider_id, lot_id in db.session.execute(
            sa.select(Membership.provider_id, Membership.lot_id)
            .where(Membership.provider_id.in_(batch), Membership.lot_id.in_(lot_ids),
                   Membership.status == MembershipStatus.ACTIVE)):
        active[provider_id].add(lot_id)
    prices = db.session.execute(
        sa.select(Price.id, Price.provider_id, Price.lot_id, Price.placement_type_id,
                  Price.service_item_id, Price.custom_name, Price.custom_unit, Price.amount)
        .where(Price.provider_id.in_(batch), Price.lot_id.in_(lot_ids), in_force(on))).all()
    by_provider = defaultdict(list)
    for row in prices:
        if row.lot_id in active[row.provider_id]:
            by_provider[row.provider_id].append(row)
    now = utcnow()
    submissions = []
    for provider_id in batch:
        weekly = sum((r.amount for r in by_provider[provider_id] if r.placement_type_id),
                     Decimal("0"))
        submissions.append({"round_id": round_id, "provider_id": provider_id,
                            "status": SubmissionStatus.INVITED, "justification": "",
                            "invited_at": now, "updated_at": now, "current_total": weekly,
                            "requested_total": weekly, "above_guidance": False, "version": 1})
    # Core inserts: one executemany each, whatever the mix of null columns.
    db.session.execute(sa.insert(FeeReviewSubmission.__table__), submissions)
    ids = dict(db.session.execute(
        sa.select(FeeReviewSubmission.provider_id, FeeReviewSubmission.id)
        .where(FeeReviewSubmission.round_id == round_id,
               FeeReviewSubmission.provider_id.in_(batch))).all())
    lines = []
    for provider_id in batch:
        described = sorted(((row, *catalogue.describe(row)) for row in by_provider[provider_id]),
                           key=lambda d: (catalogue.lots[d[0].lot_id][0], d[1]))
        position = defaultdict(int)
        for row, _key, label, unit in described:
            lines.append({"submission_id": ids[provider_id], "lot_id": row.lot_id,
                          "position": position[row.lot_id], "price_id": row.id,
                          "placement_type_id": row.placement_type_id, "label": label[:200],
                          "unit": unit, "current_amount": row.amount, "justification": "",
                          "decision": LineDecision.PENDING, "decision_note": ""})
            position[row.lot_id] += 1
    if lines:
        db.session.execute(sa.insert(FeeReviewLine.__table__), lines)
    audit.record(ctx, "fee_review.invited", "fee_review_round", round_id,
                 after={"providers": len(batch), "lines": len(lines),
                        "submission_ids": sorted(ids.values()), "invited_on": on.isoformat()})
    recipients = _recipients_by_provider(batch)
    names = dict(db.session.execute(
        sa.select(Provider.id, sa.func.coalesce(sa.func.nullif(Provider.trading_name, ""),
                                                Provider.legal_name))
        .where(Provider.id.in_(batch))).all())
    n_emails = 0
    for provider_id in batch:
        provider_lots = sorted(catalogue.lots[lot_id] for lot_id in active[provider_id])
        context = {**common, "provider_name": names.get(provider_id, ""),
                   "lots": [title for _number, title in provider_lots],
                   "line_count": sum(1 for r in by_provider[provider_id])}
        for to in recipients.get(provider_id, []):
            outbox.append(Outgoing(to=to, template="fee_review_invitation", context=context,
                                   links={"link": ("resubmission.show",
                                                   {"submission_id": ids[provider_id]})}))
            n_emails += 1
    return len(batch), len(lines), n_emails


def _recipients_by_provider(provider_ids: list[int]) -> dict[int, list[str]]:
    """Each provider's administrators or, when it has none, all its active users."""
    rows = db.session.execute(
        sa.select(User.provider_id, User.email, User.role)
        .where(User.provider_id.in_(provider_ids), User.is_active_account.is_(True))
        .order_by(User.provider_id, User.id)).all()
    admins, everyone = defaultdict(list), defaultdict(list)
    for provider_id, email, role in rows:
        everyone[provider_id].append(email)
        if role is Role.PROVIDER_ADMIN:
            admins[provider_id].append(email)
    return {pid: unique_addresses(admins[pid] or everyone[pid]) for pid in everyone}


def provider_recipients(provider_id: int) -> list[str]:
    return _recipients_by_provider([provider_id]).get(provider_id, [])


# ---------------------------------------------------------------- deadlines

def deadline(submission: FeeReviewSubmission) -> date:
    """The last day the provider may submit: the round's closing date or its
    own extension, whichever is later."""
    return submission.deadline


def can_submit(submission: FeeReviewSubmission, today: date) -> bool:
    return (submission.status in SUBMISSION_EDITABLE
            and submission.round.status in (FeeReviewStatus.OPEN, FeeReviewStatus.CLOSED)
            and today <= deadline(submission))


def deadline_message(submission: FeeReviewSubmission) -> str:
    return (f"The deadline for this fee review was {_day(deadline(submission))}. Ask the "
            "commissioning team for an extension.")


def grant_extension(submission: FeeReviewSubmission, until: date | None, reason: str, actor,
                    ctx: audit.AuditContext, today: date) -> None:
    """Let one provider submit until `until`. After the round closed this
    brings a provider that did not respond back to DRAFT."""
    _require(actor, ROUND_MANAGERS,
             "Only a commissioning manager or an administrator can grant an extension.")
    errors = {}
    if until is None:
        errors["until"] = "Enter the date the extension runs until"
    elif until < today:
        errors["until"] = "The extension must run until today or a later date"
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Enter the reason for the extension"
    elif len(reason) > MAX_TEXT:
        errors["reason"] = f"Reason must be {MAX_TEXT:,} characters or fewer"
    if errors:
        raise FeeReviewError("Check the extension", errors)
    if submission.round.status is FeeReviewStatus.DRAFT:
        raise FeeReviewError("The round has not opened yet.")
    before = {"status": submission.status.value,
              "extended_until": submission.extended_until.isoformat()
              if submission.extended_until else None}
    if submission.status is SubmissionStatus.NO_RESPONSE:
        submission.status = _transition(submission.status, "extend", next_submission_status)
    elif submission.status not in SUBMISSION_EDITABLE:
        raise FeeReviewError(f"{submission.provider.display_name} has already submitted, so "
                             "it needs no extension.")
    submission.extended_until = until
    submission.extension_reason = reason
    submission.updated_at = utcnow()
    db.session.flush()
    audit.record(ctx, "fee_review_submission.extended", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, before=before,
                 after={"status": submission.status.value, "extended_until": until.isoformat()},
                 reason=reason)


# --------------------------------------------------------------- proposals

@dataclass
class LineInput:
    amount: Decimal | None     # None: no change asked
    justification: str = ""


@dataclass
class LinePreview:
    line: FeeReviewLine
    requested: Decimal
    uplift: Decimal
    above_guidance: bool
    above_cap: bool


@dataclass
class Preview:
    lines: list[LinePreview]
    overall_uplift: Decimal | None   # weekly fees, weighted by current amounts
    current_total: Decimal
    requested_total: Decimal


def _guidance(submission) -> Decimal:
    return Decimal(submission.round.guidance_uplift)


def _cap(submission) -> Decimal | None:
    cap = submission.round.cap_uplift
    return None if cap is None else Decimal(cap)


def overall_uplift(current_total: Decimal, requested_total: Decimal) -> Decimal | None:
    return uplift(current_total, requested_total) if current_total > 0 else None


def preview(submission: FeeReviewSubmission,
            proposals: dict[int, LineInput] | None = None) -> Preview:
    """Uplift per line and overall for `proposals` (or the saved values when
    None; lines missing from `proposals` keep theirs). Writes nothing."""
    guidance, cap = _guidance(submission), _cap(submission)
    rows = []
    current_total = requested_total = Decimal("0")
    for line in submission.lines:
        if proposals is not None and line.id in proposals:
            amount = proposals[line.id].amount
            requested = line.current_amount if amount is None else Decimal(amount)
        else:
            requested = line.requested_amount
        change = uplift(line.current_amount, requested)
        rows.append(LinePreview(
            line=line, requested=requested, uplift=change,
            above_guidance=exceeds(line.current_amount, requested, guidance),
            above_cap=cap is not None and exceeds(line.current_amount, requested, cap)))
        if line.is_weekly_fee:
            current_total += line.current_amount
            requested_total += requested
    return Preview(lines=rows, overall_uplift=overall_uplift(current_total, requested_total),
                   current_total=current_total, requested_total=requested_total)


def _amount_error(submission, line: FeeReviewLine, amount: Decimal, *, what="amount") -> str | None:
    """Why `amount` cannot be asked for `line`, or None."""
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return f"Enter the {what} in pounds and pence"
    if not amount.is_finite() or amount != amount.quantize(CENT):
        return f"Enter the {what} in pounds and pence, for example 1250.00"
    if amount <= 0:
        return f"Enter an {what} greater than £0" if what == "amount" \
            else f"Enter a {what} greater than £0"
    if line.is_weekly_fee:
        top = Decimal(line.lot.max_weekly_price)
        if amount > top:
            return f"Enter a weekly fee of {_gbp(top)} or less (the most this lot allows)"
    elif amount > MAX_RATE:
        return f"Enter a rate less than {_gbp(MAX_RATE)}"
    cap = _cap(submission)
    if cap is not None and exceeds(line.current_amount, amount, cap):
        top = max_amount_within(line.current_amount, cap)
        return (f"{_gbp(amount)} is more than the cap of {_pct(cap)} % allows on "
                f"{_gbp(line.current_amount)}. Enter {_gbp(top)} or less")
    return None


def _justification_needed(submission, line, requested: Decimal, line_text: str,
                          overall: str) -> str | None:
    if exceeds(line.current_amount, requested, _guidance(submission)) \
            and not line_text.strip() and not overall.strip():
        return (f"Explain why you ask for more than the guidance of "
                f"{_pct(_guidance(submission))} %, here or in your overall justification")
    return None


def _text_error(text: str, label: str) -> str | None:
    if len(text or "") > MAX_TEXT:
        return f"{label} must be {MAX_TEXT:,} characters or fewer"
    return None


def save_proposal(submission: FeeReviewSubmission, proposals: dict[int, LineInput],
                  justification: str, evidence_document_id: int | None, actor,
                  ctx: audit.AuditContext) -> dict[str, str]:
    """Save the provider's draft. Returns errors keyed "line-<id>-amount",
    "line-<id>-justification", "justification", "evidence" (nothing saved
    then) or {}. A line above guidance without a justification is allowed in
    a draft; `submission_errors` reports it before submit."""
    _require_provider(actor, submission)
    new_status = _transition(submission.status, "save", next_submission_status)
    errors: dict[str, str] = {}
    for line in submission.lines:
        given = proposals.get(line.id)
        if given is None:
            continue
        if given.amount is not None and (message := _amount_error(submission, line, given.amount)):
            errors[f"line-{line.id}-amount"] = message
        if message := _text_error(given.justification, "Justification"):
            errors[f"line-{line.id}-justification"] = message
    if message := _text_error(justification, "Justification"):
        errors["justification"] = message
    if evidence_document_id is not None:
        document = db.session.get(Document, evidence_document_id)
        if document is None or document.provider_id != submission.provider_id or \
                document.status in (DocumentStatus.REJECTED, DocumentStatus.SUPERSEDED):
            errors["evidence"] = "Select a current document from your evidence library"
    if errors:
        return errors
    changed = {}
    for line in submission.lines:
        given = proposals.get(line.id)
        if given is None:
            continue
        amount = None if given.amount is None else Decimal(given.amount)
        if amount is not None and amount == line.current_amount:
            amount = None  # asking for the current price is asking for no change
        text = (given.justification or "").strip()
        if amount != line.proposed_amount or text != line.justification:
            changed[str(line.id)] = {"amount": _str(amount), "was": _str(line.proposed_amount)}
        line.proposed_amount = amount
        line.justification = text
    before = submission.status
    submission.status = new_status
    submission.justification = (justification or "").strip()
    submission.evidence_document_id = evidence_document_id
    refresh_totals(submission)
    db.session.flush()
    audit.record(ctx, "fee_review_submission.saved", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, before={"status": before.value},
                 after={"status": submission.status.value, "lines": changed,
                        "evidence_document_id": evidence_document_id})
    return {}


def submission_errors(submission: FeeReviewSubmission) -> dict[str, str]:
    """What stops the saved proposal being submitted (same keys as save_proposal)."""
    errors: dict[str, str] = {}
    overall = submission.justification or ""
    for line in submission.lines:
        if line.proposed_amount is None:
            continue
        if message := _amount_error(submission, line, line.proposed_amount):
            errors[f"line-{line.id}-amount"] = message
        elif message := _justification_needed(submission, line, line.proposed_amount,
                                               line.justification or "", overall):
            errors[f"line-{line.id}-justification"] = message
    return errors


def submission_warnings(submission: FeeReviewSubmission) -> dict[str, str]:
    """Same as submission_errors: shown as a warning after a draft save."""
    return submission_errors(submission)


def submit(submission: FeeReviewSubmission, actor, ctx: audit.AuditContext, today: date) -> None:
    """Send the saved proposal to the commissioners. Lines asking no change
    are accepted at once; when that settles every line the submission is
    agreed (or proposed for agreement) straight away."""
    _require_provider(actor, submission)
    new_status = _transition(submission.status, "submit", next_submission_status)
    if submission.round.status is FeeReviewStatus.DRAFT:
        raise FeeReviewError("This fee review has not opened yet.")
    if today > deadline(submission):
        raise FeeReviewError(deadline_message(submission))
    errors = submission_errors(submission)
    if errors:
        raise FeeReviewError("There is a problem with your proposal: fix it and submit again.",
                             errors)
    before = submission.status
    now = utcnow()
    submission.status = new_status
    submission.submitted_at = now
    submission.submitted_by_id = actor.id
    for line in submission.lines:
        line.decision = LineDecision.PENDING
        line.agreed_amount = None
        line.counter_amount = None
        if line.proposed_amount is None:
            line.decision = LineDecision.ACCEPTED
            line.agreed_amount = line.current_amount
            line.decided_at = now
            line.decided_by_id = None  # no one had to decide: no change was asked
    refresh_totals(submission)
    db.session.flush()
    audit.record(ctx, "fee_review_submission.submitted", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, before={"status": before.value},
                 after={"status": submission.status.value,
                        "requested_total": str(submission.requested_total),
                        "current_total": str(submission.current_total),
                        "above_guidance": submission.above_guidance})
    _settle(submission, actor, ctx, today)


def refresh_totals(submission: FeeReviewSubmission) -> None:
    """Keep the denormalised weekly-fee totals and the guidance flag in step
    with the lines, and touch the row so its version moves."""
    guidance = _guidance(submission)
    weekly = [line for line in submission.lines if line.is_weekly_fee]
    submission.current_total = sum((line.current_amount for line in weekly), Decimal("0"))
    submission.requested_total = sum((line.requested_amount for line in weekly), Decimal("0"))
    agreed = [line.agreed_amount for line in weekly]
    submission.agreed_total = (sum(agreed, Decimal("0"))
                               if weekly and all(a is not None for a in agreed) else None)
    submission.above_guidance = any(
        exceeds(line.current_amount, line.requested_amount, guidance)
        for line in submission.lines)
    submission.updated_at = utcnow()


# ----------------------------------------------------------------- review

@dataclass
class DecisionInput:
    decision: LineDecision | None
    counter_amount: Decimal | None = None
    note: str = ""


@dataclass
class BulkResult:
    submissions: int = 0    # submissions with at least one line accepted
    lines: int = 0          # lines accepted
    agreed: int = 0         # submissions agreed as a result
    awaiting_approval: int = 0


DECIDABLE = (LineDecision.ACCEPTED, LineDecision.COUNTERED, LineDecision.REJECTED)


def validate_decisions(submission: FeeReviewSubmission,
                       decisions: dict[int, DecisionInput]) -> dict[str, str]:
    """Keys "line-<id>-decision", "line-<id>-counter", "line-<id>-note"."""
    errors: dict[str, str] = {}
    lines = {line.id: line for line in submission.lines}
    for line_id, given in decisions.items():
        line = lines.get(line_id)
        if line is None:
            continue
        key = f"line-{line_id}"
        if given.decision not in DECIDABLE:
            errors[f"{key}-decision"] = "Select accept, counter-offer or reject"
            continue
        note = (given.note or "").strip()
        if given.decision is LineDecision.COUNTERED:
            if given.counter_amount is None:
                errors[f"{key}-counter"] = "Enter the price you offer"
            elif message := _counter_error(line, given.counter_amount):
                errors[f"{key}-counter"] = message
            if not note:
                errors[f"{key}-note"] = "Explain the counter-offer to the provider"
        if given.decision is LineDecision.REJECTED and not note:
            errors[f"{key}-note"] = "Explain to the provider why the current price stands"
        if f"{key}-note" not in errors and (message := _text_error(note, "Note")):
            errors[f"{key}-note"] = message
    return errors


def _counter_error(line: FeeReviewLine, amount) -> str | None:
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return "Enter the price in pounds and pence"
    if not amount.is_finite() or amount != amount.quantize(CENT):
        return "Enter the price in pounds and pence, for example 1250.00"
    if amount <= 0:
        return "Enter a price greater than £0"
    if line.is_weekly_fee and amount > Decimal(line.lot.max_weekly_price):
        return f"Enter a weekly fee of {_gbp(line.lot.max_weekly_price)} or less"
    if not line.is_weekly_fee and amount > MAX_RATE:
        return f"Enter a rate less than {_gbp(MAX_RATE)}"
    if amount == line.requested_amount:
        return "A counter-offer must differ from the price asked: accept the line instead"
    return None


def decide_lines(submission: FeeReviewSubmission, decisions: dict[int, DecisionInput], actor,
                 ctx: audit.AuditContext) -> SubmissionStatus:
    """Record reviewers' decisions on lines of a submitted proposal (a line
    already decided may be decided again while the submission is with the
    commissioners). Then: any counter-offer -> NEGOTIATING; every line settled
    -> AGREED, or AWAITING_APPROVAL when an agreed uplift exceeds guidance.
    Returns the submission's new status."""
    _require_reviewer(actor)
    if submission.status is not SubmissionStatus.SUBMITTED:
        raise FeeReviewError(f"You can only decide lines of a submitted proposal; this one is "
                             f"{submission.status.label.lower()}.")
    errors = validate_decisions(submission, decisions)
    if errors:
        raise FeeReviewError("Check your decisions", errors)
    now = utcnow()
    recorded = {}
    for line in submission.lines:
        given = decisions.get(line.id)
        if given is None:
            continue
        _decide(line, given.decision, given.counter_amount, (given.note or "").strip(),
                actor, now)
        recorded[str(line.id)] = {"decision": line.decision.value,
                                  "counter": _str(line.counter_amount),
                                  "agreed": _str(line.agreed_amount), "note": line.decision_note}
    if not recorded:
        raise FeeReviewError("Select a decision for at least one line")
    refresh_totals(submission)
    db.session.flush()
    audit.record(ctx, "fee_review_submission.decided", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, after={"lines": recorded})
    if any(line.decision is LineDecision.COUNTERED for line in submission.lines):
        before = submission.status
        submission.status = _transition(before, "counter", next_submission_status)
        audit.record(ctx, "fee_review_submission.countered", "fee_review_submission",
                     submission.id, provider_id=submission.provider_id,
                     before={"status": before.value}, after={"status": submission.status.value})
        return submission.status
    _settle(submission, actor, ctx, uk_today())
    return submission.status


def _decide(line, decision: LineDecision, counter, note: str, actor, now) -> None:
    line.decision = decision
    line.decision_note = note
    line.decided_by_id = actor.id
    line.decided_at = now
    if decision is LineDecision.ACCEPTED:
        line.counter_amount, line.agreed_amount = None, line.requested_amount
    elif decision is LineDecision.REJECTED:
        line.counter_amount, line.agreed_amount = None, line.current_amount
    else:
        line.counter_amount, line.agreed_amount = Decimal(counter), None


def _settled(submission) -> bool:
    return all(line.decision in (LineDecision.ACCEPTED, LineDecision.REJECTED,
                                 LineDecision.COUNTER_ACCEPTED)
               for line in submission.lines)


def needs_second_approval(submission: FeeReviewSubmission) -> bool:
    """True when an agreed (or, before agreement, requested) line is above guidance."""
    guidance = _guidance(submission)
    return any(exceeds(line.current_amount,
                       line.agreed_amount if line.agreed_amount is not None
                       else line.requested_amount, guidance)
               for line in submission.lines)


def _proposer_id(submission, actor) -> int | None:
    """The member of staff answerable for the agreement: the actor, or when a
    provider's reply settled it, whoever decided a line last."""
    if actor is not None and actor.role.is_staff:
        return actor.id
    decided = [line for line in submission.lines if line.decided_by_id is not None]
    if not decided:
        return None
    return max(decided, key=lambda line: (line.decided_at, line.id)).decided_by_id


def _settle(submission, actor, ctx, today: date) -> None:
    """Once every line is settled: agree now, or ask for a second approval."""
    if submission.status is not SubmissionStatus.SUBMITTED or not _settled(submission):
        return
    if needs_second_approval(submission):
        before = submission.status
        submission.status = _transition(before, "propose_agreement", next_submission_status)
        submission.agreement_proposed_by_id = _proposer_id(submission, actor)
        submission.updated_at = utcnow()
        audit.record(ctx, "fee_review_submission.agreement_proposed", "fee_review_submission",
                     submission.id, provider_id=submission.provider_id,
                     before={"status": before.value},
                     after={"status": submission.status.value,
                            "proposed_by_id": submission.agreement_proposed_by_id,
                            "agreed_total": _str(submission.agreed_total)})
        return
    _agree(submission, "agree", actor if actor is not None and actor.role.is_staff else None,
           ctx, today)


def _agree(submission, action: str, approver, ctx, today: date) -> None:
    before = submission.status
    submission.status = _transition(before, action, next_submission_status)
    submission.agreed_at = utcnow()
    submission.agreed_by_id = approver.id if approver is not None else None
    submission.prices_from = max(submission.round.effective_on, today)
    refresh_totals(submission)
    added = apply_agreed_prices(submission)
    db.session.flush()
    audit.record(ctx, "fee_review_submission.agreed", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, before={"status": before.value},
                 after={"status": submission.status.value,
                        "prices_from": submission.prices_from.isoformat(),
                        "agreed_total": _str(submission.agreed_total),
                        "proposed_by_id": submission.agreement_proposed_by_id,
                        "prices": [{"lot_id": p.lot_id, "placement_type_id": p.placement_type_id,
                                    "service_item_id": p.service_item_id,
                                    "custom_name": p.custom_name, "amount": str(p.amount)}
                                   for p in added]})


def _identity(price) -> tuple:
    return (price.placement_type_id, price.service_item_id,
            None if (price.placement_type_id or price.service_item_id) else price.custom_name)


def apply_agreed_prices(submission: FeeReviewSubmission) -> list[Price]:
    """New Price rows from `prices_from` for each lot where an agreed amount
    differs from the current one: every price then in force is carried over,
    with the agreed amounts substituted. Returns the rows added."""
    on = submission.prices_from
    by_lot: dict[int, list[FeeReviewLine]] = defaultdict(list)
    for line in submission.lines:
        by_lot[line.lot_id].append(line)
    price_rows = {p.id: p for p in db.session.execute(
        sa.select(Price).where(Price.id.in_([line.price_id for line in submission.lines]))
    ).scalars()}
    added: list[Price] = []
    for lot_id, lines in sorted(by_lot.items()):
        changes = {_identity(price_rows[line.price_id]): line.agreed_amount for line in lines
                   if line.agreed_amount is not None and line.agreed_amount != line.current_amount}
        if not changes:
            continue
        in_force_then = current_prices(submission.provider_id, lot_id, on)
        new = [NewPrice(amount=changes.get(_identity(p), p.amount),
                        placement_type_id=p.placement_type_id, service_item_id=p.service_item_id,
                        custom_name=p.custom_name, custom_unit=p.custom_unit)
               for p in in_force_then]
        _closed, rows = replace_prices(submission.provider_id, lot_id, on, new,
                                       source=PriceSource.FEE_REVIEW, source_id=submission.id)
        added.extend(rows)
    return added


def bulk_accept_within_guidance(round: FeeReviewRound, actor, ctx: audit.AuditContext,
                                submission_ids: list[int] | None = None) -> BulkResult:
    """Accept every pending line asking no more than guidance in the chosen
    submitted proposals (all of the round's when None). A proposal then
    settled is agreed (no second person is needed within guidance)."""
    _require_reviewer(actor)
    query = (sa.select(FeeReviewSubmission)
             .where(FeeReviewSubmission.round_id == round.id,
                    FeeReviewSubmission.status == SubmissionStatus.SUBMITTED)
             .options(selectinload(FeeReviewSubmission.lines).joinedload(FeeReviewLine.lot))
             .order_by(FeeReviewSubmission.id))
    if submission_ids is not None:
        query = query.where(FeeReviewSubmission.id.in_(submission_ids or [-1]))
    guidance = Decimal(round.guidance_uplift)
    result = BulkResult()
    now = utcnow()
    on = uk_today()
    for submission in db.session.execute(query).scalars():
        accepted = [line for line in submission.lines
                    if line.decision is LineDecision.PENDING
                    and not exceeds(line.current_amount, line.requested_amount, guidance)]
        if not accepted:
            continue
        for line in accepted:
            _decide(line, LineDecision.ACCEPTED, None, "", actor, now)
        refresh_totals(submission)
        db.session.flush()
        audit.record(ctx, "fee_review_submission.bulk_accepted", "fee_review_submission",
                     submission.id, provider_id=submission.provider_id,
                     after={"lines": {str(line.id): {"decision": line.decision.value,
                                                     "agreed": str(line.agreed_amount)}
                                      for line in accepted}})
        result.submissions += 1
        result.lines += len(accepted)
        _settle(submission, actor, ctx, on)
        if submission.status is SubmissionStatus.AGREED:
            result.agreed += 1
        elif submission.status is SubmissionStatus.AWAITING_APPROVAL:
            result.awaiting_approval += 1
    return result


def can_approve(submission: FeeReviewSubmission, user) -> bool:
    """The four-eyes rule as the page shows it; approve_agreement enforces it."""
    return (submission.status is SubmissionStatus.AWAITING_APPROVAL
            and user.role is Role.MANAGER and submission.agreement_proposed_by_id != user.id)


def _check_second_person(submission, actor) -> None:
    if actor is None or actor.role is not Role.MANAGER:
        raise FeeReviewError("Only a commissioning manager can approve an agreement above "
                             "guidance.")
    if submission.agreement_proposed_by_id == actor.id:
        raise FeeReviewError(FOUR_EYES_MESSAGE)


def approve_agreement(submission: FeeReviewSubmission, actor, ctx: audit.AuditContext,
                      today: date) -> None:
    """A second commissioning manager agrees a proposal above guidance."""
    _check_second_person(submission, actor)
    _agree(submission, "approve", actor, ctx, today)


def return_agreement(submission: FeeReviewSubmission, reason: str, actor,
                     ctx: audit.AuditContext) -> None:
    """Send a proposed agreement back to the reviewers (lines stay decided and
    may be decided again)."""
    _check_second_person(submission, actor)
    reason = (reason or "").strip()
    if not reason:
        raise FeeReviewError("Enter why you are returning the agreement",
                             {"reason": "Enter why you are returning the agreement"})
    if message := _text_error(reason, "Reason"):
        raise FeeReviewError(message, {"reason": message})
    before = submission.status
    submission.status = _transition(before, "return", next_submission_status)
    submission.updated_at = utcnow()
    db.session.flush()
    audit.record(ctx, "fee_review_submission.agreement_returned", "fee_review_submission",
                 submission.id, provider_id=submission.provider_id,
                 before={"status": before.value,
                         "proposed_by_id": submission.agreement_proposed_by_id},
                 after={"status": submission.status.value}, reason=reason)


# --------------------------------------------------- provider's response

@dataclass
class ResponseInput:
    accept: bool
    amount: Decimal | None = None


def respond_to_counters(submission: FeeReviewSubmission, responses: dict[int, ResponseInput],
                        message: str, actor, ctx: audit.AuditContext,
                        today: date) -> dict[str, str]:
    """The provider accepts each counter-offer or replies with a new amount
    (a message is then required). Returns errors keyed "line-<id>-response",
    "line-<id>-amount", "message" (nothing saved), or {} once the proposal is
    back with the commissioners (and agreed if that settled every line)."""
    _require_provider(actor, submission)
    if submission.status is not SubmissionStatus.NEGOTIATING:
        raise FeeReviewError(f"There is no counter-offer to answer; this fee review is "
                             f"{submission.status.label.lower()}.")
    errors: dict[str, str] = {}
    countered = [line for line in submission.lines if line.decision is LineDecision.COUNTERED]
    replies = False
    for line in countered:
        given = responses.get(line.id)
        key = f"line-{line.id}"
        if given is None or (not given.accept and given.amount is None):
            errors[f"{key}-response"] = "Accept the counter-offer or enter the price you ask"
        elif not given.accept:
            if error := _amount_error(submission, line, given.amount):
                errors[f"{key}-amount"] = error
            elif Decimal(given.amount) != line.counter_amount:
                replies = True
    message = (message or "").strip()
    if replies and not message:
        errors["message"] = "Explain the price you ask in a message to the commissioners"
    elif error := _text_error(message, "Message"):
        errors["message"] = error
    if errors:
        return errors
    recorded = {}
    for line in countered:
        given = responses[line.id]
        if given.accept or Decimal(given.amount) == line.counter_amount:
            line.decision = LineDecision.COUNTER_ACCEPTED
            line.agreed_amount = line.counter_amount
        else:
            line.decision = LineDecision.PENDING
            line.proposed_amount = Decimal(given.amount)
            line.agreed_amount = None
        recorded[str(line.id)] = {"decision": line.decision.value,
                                  "amount": _str(line.agreed_amount or line.proposed_amount)}
    before = submission.status
    submission.status = _transition(before, "respond", next_submission_status)
    refresh_totals(submission)
    if message:
        db.session.add(FeeReviewMessage(submission_id=submission.id, author_id=actor.id,
                                        from_provider=True, body=message))
    db.session.flush()
    audit.record(ctx, "fee_review_submission.responded", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id, before={"status": before.value},
                 after={"status": submission.status.value, "lines": recorded},
                 reason=message or None)
    _settle(submission, actor, ctx, today)
    return {}


def post_message(submission: FeeReviewSubmission, actor, body: str,
                 ctx: audit.AuditContext) -> FeeReviewMessage:
    """Add to the submission's thread (append-only). Providers post on their
    own submission; reviewers and round managers on any."""
    body = (body or "").strip()
    if actor is not None and actor.role.is_provider:
        _require_provider(actor, submission)
    else:
        _require(actor, REVIEWERS + (Role.ADMIN,),
                 "Only the provider and the commissioning team can post messages.")
    if not body:
        raise FeeReviewError("Enter a message", {"body": "Enter a message"})
    if error := _text_error(body, "Message"):
        raise FeeReviewError(error, {"body": error})
    message = FeeReviewMessage(submission_id=submission.id, author_id=actor.id,
                               from_provider=actor.role.is_provider, body=body)
    db.session.add(message)
    db.session.flush()
    audit.record(ctx, "fee_review_message.posted", "fee_review_submission", submission.id,
                 provider_id=submission.provider_id,
                 after={"message_id": message.id, "from_provider": message.from_provider})
    return message


# ------------------------------------------------------------------ queries

def provider_submissions(provider_id: int) -> list[FeeReviewSubmission]:
    """The provider's fee reviews, newest round first (the dashboard panel)."""
    return db.session.execute(
        sa.select(FeeReviewSubmission).join(FeeReviewRound)
        .where(FeeReviewSubmission.provider_id == provider_id,
               FeeReviewRound.status != FeeReviewStatus.DRAFT)
        .options(joinedload(FeeReviewSubmission.round).joinedload(FeeReviewRound.dps))
        .order_by(FeeReviewRound.effective_on.desc(), FeeReviewSubmission.id.desc())
    ).scalars().all()


QUEUE_SORTS = {"submitted", "provider", "uplift", "status"}


def review_queue(round: FeeReviewRound, *, status=None, lot_id: int | None = None,
                 above_guidance: bool | None = None, sort: str = "submitted", page: int = 1,
                 per_page: int = 25) -> tuple[list[FeeReviewSubmission], int]:
    """One page of the round's submissions (provider loaded) and the total
    matching. `status` is a SubmissionStatus or a collection of them."""
    where = [FeeReviewSubmission.round_id == round.id]
    if status is not None:
        statuses = [status] if isinstance(status, SubmissionStatus) else list(status)
        where.append(FeeReviewSubmission.status.in_(statuses))
    if lot_id is not None:
        where.append(sa.exists().where(FeeReviewLine.submission_id == FeeReviewSubmission.id,
                                       FeeReviewLine.lot_id == lot_id))
    if above_guidance is not None:
        where.append(FeeReviewSubmission.above_guidance.is_(bool(above_guidance)))
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(FeeReviewSubmission).where(*where)).scalar_one()
    query = sa.select(FeeReviewSubmission).join(Provider).where(*where)
    if sort == "provider":
        order = [sa.func.lower(Provider.legal_name), FeeReviewSubmission.id]
    elif sort == "uplift":
        ratio = ((FeeReviewSubmission.requested_total - FeeReviewSubmission.current_total)
                 / sa.func.nullif(FeeReviewSubmission.current_total, 0))
        order = [sa.func.coalesce(ratio, 0).desc(), FeeReviewSubmission.id]
    elif sort == "status":
        order = [FeeReviewSubmission.status, FeeReviewSubmission.id]
    else:  # earliest submitted first; not yet submitted last
        order = [FeeReviewSubmission.submitted_at.is_(None), FeeReviewSubmission.submitted_at,
                 FeeReviewSubmission.id]
    page = max(1, int(page))
    rows = db.session.execute(
        query.options(joinedload(FeeReviewSubmission.provider)).order_by(*order)
        .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return rows, total


def round_counts(round: FeeReviewRound) -> dict[SubmissionStatus, int]:
    counts = {status: 0 for status in SubmissionStatus}
    for status, n in db.session.execute(
            sa.select(FeeReviewSubmission.status, sa.func.count())
            .where(FeeReviewSubmission.round_id == round.id)
            .group_by(FeeReviewSubmission.status)):
        counts[status] = n
    return counts


def load_submission(submission_id: int) -> FeeReviewSubmission | None:
    """A submission with its round, provider and lines (with lots) loaded."""
    return db.session.execute(
        sa.select(FeeReviewSubmission).where(FeeReviewSubmission.id == submission_id)
        .options(joinedload(FeeReviewSubmission.round), joinedload(FeeReviewSubmission.provider),
                 selectinload(FeeReviewSubmission.lines).joinedload(FeeReviewLine.lot))
    ).scalar_one_or_none()


# ------------------------------------------------------------------- emails
# Each returns the messages to send once the caller has committed:
#     app.jobs.fee_review.send_emails(fee_review.submitted_emails(submission))
# Templates receive `submission`, `round`, `provider` and an absolute `link`,
# the same context a view passing them to app.email.send_email would give.

def _to_provider(submission, template: str, **extra) -> list[Outgoing]:
    context = {"submission": submission, "round": submission.round,
               "provider": submission.provider, **extra}
    link = ("resubmission.show", {"submission_id": submission.id})
    return [Outgoing(to=to, template=template, context=context, links={"link": link})
            for to in provider_recipients(submission.provider_id)]


def submitted_emails(submission: FeeReviewSubmission) -> list[Outgoing]:
    """Confirmation to the provider after `submit`."""
    return _to_provider(submission, "fee_review_submitted")


def counter_offer_emails(submission: FeeReviewSubmission) -> list[Outgoing]:
    return _to_provider(submission, "fee_review_counter_offer")


def agreed_emails(submission: FeeReviewSubmission) -> list[Outgoing]:
    return _to_provider(submission, "fee_review_agreed")


def extension_emails(submission: FeeReviewSubmission) -> list[Outgoing]:
    return _to_provider(submission, "fee_review_extension")


def returned_emails(submission: FeeReviewSubmission, reason: str, returned_by,
                    link: tuple[str, dict]) -> list[Outgoing]:
    """To the member of staff whose proposed agreement was returned; `link` is
    the (endpoint, values) of the staff page for the submission."""
    proposer = (db.session.get(User, submission.agreement_proposed_by_id)
                if submission.agreement_proposed_by_id else None)
    if proposer is None or not proposer.is_active_account:
        return []
    context = {"submission": submission, "round": submission.round,
               "provider": submission.provider, "reason": reason, "returned_by": returned_by}
    return [Outgoing(to=proposer.email, template="fee_review_returned", context=context,
                     links={"link": link})]


def emails_after(submission: FeeReviewSubmission) -> list[Outgoing]:
    """What to tell the provider after a review or response action, by the
    status it left: counter-offer made or agreement reached (else nothing)."""
    if submission.status is SubmissionStatus.NEGOTIATING:
        return counter_offer_emails(submission)
    if submission.status is SubmissionStatus.AGREED:
        return agreed_emails(submission)
    return []
