"""The national-scale generator, run at a tiny scale into the test database."""
from collections import defaultdict
from datetime import date

import pytest
import sqlalchemy as sa

from app.bench_data import generate, reset_database
from app.domain import audit
from app.domain.states import ApplicationStatus, MembershipStatus
from app.extensions import db
from app.models import (Application, ApplicationLot, CeilingPrice, Document, LotEvaluation,
                        Membership, Price, Provider, Setting, Suspension)

TODAY = date(2026, 11, 25)


def _run(scale: float, seed: int = 42) -> dict:
    return generate(providers=5000, scale=scale, seed=seed, today=TODAY, echo=lambda _: None)


def _count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def _sample() -> tuple:
    names = db.session.execute(
        sa.select(Provider.trading_name).order_by(Provider.id).limit(5)).scalars().all()
    prices = db.session.execute(
        sa.select(Price.amount, Price.valid_from).order_by(Price.id).limit(20)).all()
    return names, [tuple(p) for p in prices]


def test_counts_follow_the_scale(app_ctx):
    counts = _run(0.01)
    assert _count(Provider) == counts["providers"] == 50
    assert _count(Setting) == 150
    assert _count(Document) == 600
    assert _count(Application) == 200
    assert _count(Membership) > 0
    # Every member has a price history: several rows per item.
    assert _count(Price) > 20 * _count(Membership)
    reset_database()
    _run(0.02)
    assert _count(Provider) == 100
    assert _count(Setting) == 300
    assert _count(Application) == 400


def test_every_application_state_and_what_it_implies(app_ctx):
    _run(0.01)
    states = set(db.session.execute(sa.select(Application.status).distinct()).scalars())
    assert states == set(ApplicationStatus)
    rows = db.session.execute(
        sa.select(Application.status, ApplicationLot.id, LotEvaluation.status,
                  LotEvaluation.outcome)
        .join(ApplicationLot, ApplicationLot.application_id == Application.id)
        .outerjoin(LotEvaluation, LotEvaluation.application_lot_id == ApplicationLot.id)).all()
    for status, _, evaluation_status, outcome in rows:
        evaluated = status in (ApplicationStatus.IN_EVALUATION,
                               ApplicationStatus.CLARIFICATION_REQUESTED,
                               ApplicationStatus.RECOMMENDED, ApplicationStatus.DECIDED)
        assert (evaluation_status is not None) == evaluated
        if status is ApplicationStatus.DECIDED:
            assert outcome is not None
    submitted_without_prices = db.session.execute(
        sa.select(sa.func.count()).select_from(Application)
        .where(Application.status == ApplicationStatus.SUBMITTED,
               ~sa.exists().where(CeilingPrice.application_id == Application.id))).scalar()
    assert submitted_without_prices == 0


def test_price_histories_chain_without_overlap(app_ctx):
    _run(0.01)
    chains = defaultdict(list)
    for row in db.session.execute(sa.select(
            Price.provider_id, Price.lot_id, Price.placement_type_id, Price.service_item_id,
            Price.valid_from, Price.valid_to)):
        chains[row[:4]].append((row.valid_from, row.valid_to))
    assert chains
    for periods in chains.values():
        periods.sort()
        for (start, end), (next_start, _) in zip(periods, periods[1:]):
            assert start < end == next_start
        assert periods[-1][1] is None
    # The DPS opened on 1 February five years back; the first members' prices start then.
    first = min(periods[0][0] for periods in chains.values())
    assert date(2021, 2, 1) <= first < date(2022, 4, 1)


def test_suspension_flags_match_active_suspensions(app_ctx):
    _run(0.02)
    for s in db.session.execute(sa.select(Suspension)).scalars():
        if s.lifted_at is not None:
            continue
        if s.setting_id:
            assert db.session.get(Setting, s.setting_id).is_suspended
        else:
            q = sa.select(Membership.status).where(Membership.provider_id == s.provider_id)
            if s.lot_id:
                q = q.where(Membership.lot_id == s.lot_id)
            assert set(db.session.execute(q).scalars()) == {MembershipStatus.SUSPENDED}


def test_the_audit_chain_verifies(app_ctx):
    _run(0.01)
    checked, bad = audit.verify_chain()
    assert bad == []
    assert checked >= _count(Application)


def test_same_seed_same_data(app_ctx):
    _run(0.01, seed=7)
    first = _sample()
    reset_database()
    _run(0.01, seed=7)
    assert _sample() == first
    reset_database()
    _run(0.01, seed=8)
    assert _sample()[0] != first[0]


def test_refuses_a_database_with_data(app_ctx):
    _run(0.01)
    with pytest.raises(ValueError, match="--reset"):
        _run(0.01)
