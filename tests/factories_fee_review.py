"""Builders for fee review tests: members with prices, rounds, invitations."""
from datetime import date
from decimal import Decimal

from app.domain import fee_review
from app.domain.prices import NewPrice, replace_prices
from app.domain.reference import ServiceUnit
from app.domain.states import MembershipStatus, PriceSource, Role
from app.extensions import db
from app.jobs.fee_review import enqueue_invitations
from app.models import FeeReviewSubmission, Membership
from tests.factories import make_provider
from tests.factories_evaluation import ctx_for, make_staff, quick_user

D = Decimal
JOINED = date(2024, 4, 1)

__all__ = ["D", "JOINED", "member", "round_input", "new_round", "open_and_invite",
           "submission_of", "ctx_for", "make_staff", "quick_user"]


def member(lot, provider=None, *, weekly=("900", "950"), rates=("20",), custom=None,
           status=MembershipStatus.ACTIVE, since=JOINED, admin=True):
    """A provider (new unless given) with a membership of `lot` and prices in
    force from `since`: weekly fees per placement type in order, catalogue
    rates in order, and optionally (name, unit, amount) of its own item."""
    provider = provider or make_provider()
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id, started_on=since,
                              status=status))
    new = [NewPrice(amount=D(a), placement_type_id=pt.id)
           for pt, a in zip(lot.placement_types, weekly)]
    new += [NewPrice(amount=D(a), service_item_id=item.id)
            for item, a in zip(lot.service_items, rates)]
    if custom:
        name, unit, amount = custom
        new.append(NewPrice(amount=D(amount), custom_name=name, custom_unit=ServiceUnit(unit)))
    replace_prices(provider.id, lot.id, since, new, source=PriceSource.APPLICATION,
                   source_id=None)
    db.session.commit()
    if admin and not provider.users:
        quick_user(Role.PROVIDER_ADMIN, provider)
    return provider


def round_input(lots, **overrides) -> fee_review.RoundInput:
    fields = dict(name="Fee review 2027-28", lot_ids=[lot.id for lot in lots],
                  opens_on=date(2027, 1, 4), closes_on=date(2027, 1, 31),
                  effective_on=date(2027, 4, 1), guidance_method="direct",
                  guidance_uplift=D("4"), staff_cost_weight=None, nlw_change=None, cpih=None,
                  cap_uplift=D("8"), message="Please send us your proposals.")
    fields.update(overrides)
    return fee_review.RoundInput(**fields)


def new_round(dps, manager, lots, **overrides):
    round = fee_review.create_round(dps, round_input(lots, **overrides), manager,
                                    ctx_for(manager))
    db.session.commit()
    return round


def open_and_invite(round, manager, on: date):
    """Open the round and run the invitation job (in-process without Redis)."""
    job = fee_review.open_round(round, manager, ctx_for(manager), on)
    db.session.commit()
    enqueue_invitations(job)
    db.session.expire_all()
    return job


def submission_of(round, provider) -> FeeReviewSubmission:
    return FeeReviewSubmission.query.filter_by(round_id=round.id,
                                               provider_id=provider.id).one()
