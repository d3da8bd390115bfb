"""Filtering and sorting the evaluation queue through its GET form, with and
without htmx, and a bounded number of queries whatever the queue's size."""
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.domain.states import ApplicationStatus, Role
from app.extensions import db
from app.models import Application, ApplicationLot, utcnow
from tests.factories import login, make_provider
from tests.factories_evaluation import in_evaluation, make_staff, submitted_application

HX = {"HX-Request": "true", "HX-Target": "queue-results"}


@pytest.fixture
def evaluator(client, dps):
    user = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    login(client, user)
    return user


def _references(html: str) -> list[str]:
    return re.findall(r'href="/staff/applications/\d+">(DPS-\d{4}-\d{6})</a>', html)


@pytest.fixture
def queue_data(dps, evaluator):
    grace = make_staff(Role.EVALUATOR, full_name="Grace Lin")
    apps = {
        "fresh": submitted_application(dps, name="Cedar Care", lots=(1,), submitted_days_ago=1),
        "old": submitted_application(dps, name="alder Homes", lots=(2,), submitted_days_ago=12),
        "mine": in_evaluation(dps, evaluator, name="Birch Fostering", lots=(1, 2),
                              submitted_days_ago=5),
        "graces": in_evaluation(dps, grace, name="Dove Living", lots=(3,),
                                submitted_days_ago=8),
    }
    return {k: a.reference for k, a in apps.items()}, grace


def test_filters_by_lot_status_evaluator_and_days_waiting(client, dps, queue_data):
    refs, grace = queue_data
    lots = {lot.number: lot.id for lot in dps.lots}

    def shown(query: str) -> set[str]:
        r = client.get(f"/staff/?{query}")
        assert r.status_code == 200
        return set(_references(r.data.decode()))

    assert shown("") == set(refs.values())
    assert shown(f"lot={lots[1]}") == {refs["fresh"], refs["mine"]}
    assert shown("status=in_evaluation") == {refs["mine"], refs["graces"]}
    assert shown("evaluator=me") == {refs["mine"]}
    assert shown("evaluator=unassigned") == {refs["fresh"], refs["old"]}
    assert shown(f"evaluator={grace.id}") == {refs["graces"]}
    assert shown("waiting_over=7") == {refs["old"], refs["graces"]}
    assert shown(f"lot={lots[2]}&waiting_over=4&evaluator=me") == {refs["mine"]}
    html = client.get("/staff/?status=decided").data.decode()
    assert "No applications match these filters." in html
    # The form shows the filters applied.
    html = client.get(f"/staff/?lot={lots[2]}&evaluator=me").data.decode()
    assert f'<option value="{lots[2]}" selected>' in html
    assert '<option value="me" selected>Me</option>' in html


def test_sorting(client, queue_data):
    refs, _ = queue_data

    def order(query: str) -> list[str]:
        return _references(client.get(f"/staff/?{query}").data.decode())

    assert order("") == [refs[k] for k in ("fresh", "mine", "graces", "old")]
    oldest_first = [refs[k] for k in ("old", "graces", "mine", "fresh")]
    assert order("sort=submitted&order=asc") == oldest_first
    assert order("sort=waiting&order=desc") == oldest_first
    by_name = [refs[k] for k in ("old", "mine", "fresh", "graces")]  # alder, Birch, Cedar, Dove
    assert order("sort=provider&order=asc") == by_name
    assert order("sort=provider&order=desc") == by_name[::-1]


def test_htmx_filtering_swaps_only_the_results(client, queue_data):
    refs, _ = queue_data
    r = client.get("/staff/?evaluator=unassigned&sort=submitted&order=asc", headers=HX)
    html = r.data.decode().strip()
    assert r.status_code == 200 and html.startswith('<div id="queue-results">')
    assert "<html" not in html and "<h1" not in html
    assert _references(html) == [refs["old"], refs["fresh"]]
    assert "Showing 1 to 2 of 2 applications matching your filters" in html


def test_a_filter_that_is_not_valid_is_explained_and_not_applied(client, queue_data):
    refs, _ = queue_data
    r = client.get("/staff/?waiting_over=ten&status=submitted")
    html = r.data.decode()
    assert r.status_code == 400
    assert "There is a problem" in html
    # In the error summary, by the field and in the results.
    assert html.count("Days waiting must be a whole number, like 5") == 3
    assert "must be between 0 and 3650" not in html
    # The valid filters still apply.
    assert set(_references(html)) == {refs["fresh"], refs["old"]}
    r = client.get("/staff/?lot=999999&evaluator=nobody", headers=HX)
    html = r.data.decode()
    assert r.status_code == 400 and html.strip().startswith('<div id="queue-results">')
    assert "Select a lot from the list" in html and "Select an evaluator from the list" in html
    assert set(_references(html)) == set(refs.values())


@contextmanager
def _counting_queries():
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def _add_rows(dps_id: int, lot_ids: list[int], me_id: int, n: int, start: int = 0) -> None:
    """Rows that stand in for `n` submissions by different providers, for
    more than one lot, unassigned, assigned to the signed-in evaluator or to
    a colleague of their own: each row needs data from four tables."""
    for i in range(start, start + n):
        provider = make_provider()
        evaluator_id = (None, me_id, make_staff(Role.EVALUATOR).id)[i % 3]
        application = Application(
            provider_id=provider.id, dps_id=dps_id, status=ApplicationStatus.IN_EVALUATION,
            submitted_at=utcnow() - timedelta(days=2, hours=i),
            reference=f"DPS-2026-{800000 + i:06d}",
            assigned_evaluator_id=evaluator_id)
        application.lots.append(ApplicationLot(lot_id=lot_ids[i % 4]))
        application.lots.append(ApplicationLot(lot_id=lot_ids[(i + 1) % 4]))
        db.session.add(application)
    db.session.commit()


@pytest.mark.parametrize("query", ["", "sort=waiting&evaluator=me&waiting_over=0",
                                   "sort=provider&order=asc&status=in_evaluation"])
def test_the_number_of_queries_does_not_grow_with_the_queue(client, dps, evaluator, query):
    data = (dps.id, [lot.id for lot in dps.lots], evaluator.id)
    _add_rows(*data, 5)
    db.session.remove()  # the request shares this session: start it empty
    with _counting_queries() as small:
        assert client.get(f"/staff/?{query}").status_code == 200
    _add_rows(*data, 25, start=5)
    db.session.remove()  # the request shares this session: start it empty
    with _counting_queries() as large:
        r = client.get(f"/staff/?{query}")
    assert r.status_code == 200
    assert len(large) == len(small) <= 12, large
