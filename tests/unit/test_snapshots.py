"""Snapshots of an application and the differences between two of them."""
import copy
import json

import pytest
import sqlalchemy as sa

from app.domain import snapshots
from app.domain.snapshots import Change, diff
from app.extensions import db
from app.models import ApplicationSnapshot
from tests.factories_evaluation import submitted_application

PUBLIC_LIABILITY = {"file": "pl-2025.pdf", "sha256": "a" * 64, "status": "Verified",
                    "insurer": "Zurich Municipal", "policy_number": "ZM-1", "cover": "5000000.00",
                    "expires_on": "2026-03-31"}


def version() -> dict:
    return {
        "organisation": {"Legal name": "Brightwater Fostering Ltd", "Trading name": None},
        "declarations": {"Insolvency": {"answer": "No", "explanation": None}},
        "settings": {"Lot 1 Fostering: Oak House": "Independent fostering agency branch, "
                                                   "URN SC100001, Ofsted Good"},
        "prices": {"Standard foster placement": "925.00", "Parent and child": "1450.00"},
        "services": {"Extra 1:1 staffing (per hour)": "28.50"},
        "terms": {"Lot 1 Fostering": "Accepted"},
        "quality": {"Lot 1: Outcomes": "We track every child's outcomes."},
        "documents": {"Public liability insurance": dict(PUBLIC_LIABILITY)},
        "clarifications": {},
    }


def test_no_change_is_an_empty_list():
    assert diff(version(), version()) == []
    assert diff(None, None) == []


def test_a_price_change_is_one_row_in_pounds():
    new = version()
    new["prices"]["Standard foster placement"] = "990.00"
    assert diff(version(), new) == [
        Change("Ceiling prices", "Standard foster placement", "£925.00", "£990.00")]


def test_added_and_removed_settings():
    old, new = version(), version()
    new["settings"]["Lot 1 Fostering: Elm House"] = ("Independent fostering agency branch, "
                                                    "URN SC100002, Ofsted Outstanding")
    assert diff(old, new) == [Change(
        "Settings offered", "Lot 1 Fostering: Elm House", None,
        "Independent fostering agency branch, URN SC100002, Ofsted Outstanding")]
    removed = diff(new, old)
    assert [(c.item, c.after) for c in removed] == [("Lot 1 Fostering: Elm House", None)]


def test_a_new_document_is_shown_whole():
    old, new = version(), version()
    new["documents"]["Motor insurance"] = {
        "file": "motor.pdf", "sha256": "b" * 64, "status": "Awaiting check",
        "insurer": "Aviva", "policy_number": "M-9", "cover": "1000000.00",
        "expires_on": "2027-01-05"}
    [change] = diff(old, new)
    assert (change.section, change.item, change.before) == ("Documents", "Motor insurance", None)
    assert change.after.splitlines() == [
        "File: motor.pdf", f"SHA-256: {'b' * 64}", "Status: Awaiting check", "Insurer: Aviva",
        "Policy number: M-9", "Cover: £1,000,000.00", "Expires: 5 January 2027"]


def test_a_replaced_document_is_one_row_and_a_status_change_names_the_field():
    old, replaced = version(), version()
    replaced["documents"]["Public liability insurance"].update(
        file="pl-2026.pdf", sha256="c" * 64, status="Awaiting check", expires_on="2027-03-31")
    [change] = diff(old, replaced)
    assert change.item == "Public liability insurance"
    assert "File: pl-2025.pdf" in change.before and "File: pl-2026.pdf" in change.after
    assert "Expires: 31 March 2027" in change.after

    checked = version()
    checked["documents"]["Public liability insurance"]["status"] = "Rejected"
    assert diff(old, checked) == [
        Change("Documents", "Public liability insurance: status", "Verified", "Rejected")]


def test_answer_text_changes():
    old, new = version(), version()
    new["quality"]["Lot 1: Outcomes"] = "We track outcomes termly with the virtual school."
    new["declarations"]["Insolvency"] = {"answer": "Yes", "explanation": "Administration ended."}
    assert diff(old, new) == [
        Change("Declarations", "Insolvency: answer", "No", "Yes"),
        Change("Declarations", "Insolvency: explanation", None, "Administration ended."),
        Change("Quality answers", "Lot 1: Outcomes", "We track every child's outcomes.",
               "We track outcomes termly with the virtual school."),
    ]


def test_a_clarification_asked_then_answered():
    asked, answered = version(), version()
    asked["clarifications"]["Question 1"] = {"question": "Why £925?", "answer": None,
                                             "document": None}
    answered["clarifications"]["Question 1"] = {"question": "Why £925?",
                                                "answer": "It includes therapy.",
                                                "document": "therapy-plan.pdf"}
    assert diff(asked, answered) == [
        Change("Clarifications", "Question 1: answer", None, "It includes therapy."),
        Change("Clarifications", "Question 1: supporting document", None, "therapy-plan.pdf")]
    [new] = diff(version(), asked)
    assert new.after == "Question: Why £925?\nAnswer: Not answered"


def test_order_is_by_section_then_the_newer_versions_order():
    old, new = version(), version()
    new["clarifications"]["Question 1"] = {"question": "Q", "answer": "A", "document": None}
    new["prices"] = {"Parent and child": "1500.00", "Standard foster placement": "990.00"}
    new["organisation"]["Trading name"] = "Brightwater"
    del new["services"]["Extra 1:1 staffing (per hour)"]
    found = [(c.section, c.item) for c in diff(old, new)]
    assert found == [
        ("Organisation", "Trading name"),
        ("Ceiling prices", "Parent and child"),
        ("Ceiling prices", "Standard foster placement"),
        ("Additional services", "Extra 1:1 staffing (per hour)"),
        ("Clarifications", "Question 1"),
    ]
    assert diff(old, new) == diff(copy.deepcopy(old), copy.deepcopy(new))


@pytest.fixture
def application(dps, app_ctx):
    return submitted_application(dps, lots=(1, 2))


def test_submitting_takes_a_snapshot_of_everything_compared(application):
    [snapshot] = db.session.execute(
        sa.select(ApplicationSnapshot).where(ApplicationSnapshot.application_id == application.id)
    ).scalars().all()
    assert snapshot.reason == "submitted"
    data = snapshot.data
    assert json.loads(json.dumps(data)) == data
    assert [key for key, _ in snapshots.SECTIONS] == list(data)
    lots = [alot.lot for alot in application.lots]
    first_type = lots[0].placement_types[0]
    price = next(cp.weekly_price for cp in application.ceiling_prices
                 if cp.placement_type_id == first_type.id)
    assert data["prices"][first_type.name] == f"{price:.2f}"
    assert all(isinstance(v, str) and "." in v for v in data["prices"].values())
    assert data["organisation"]["Legal name"] == application.provider.legal_name
    assert set(data["terms"]) == {lot.title for lot in lots}
    assert len(data["quality"]) == sum(len(lot.quality_questions) for lot in lots)
    assert any("own item" in key for key in data["services"])
    assert data["declarations"]["Insolvency"] == {"answer": "No", "explanation": None}
    liability = data["documents"]["Public liability insurance"]
    assert liability["status"] == "Awaiting check" and len(liability["sha256"]) == 64
    assert liability["cover"] == "10000000.00" and liability["file"].endswith(".pdf")
    assert any(key.startswith("Ofsted registration certificate: ") for key in data["documents"])
    assert data["clarifications"] == {}
    # Nothing changed since: a fresh snapshot compares equal.
    again = snapshots.take_snapshot(application, "check")
    assert diff(snapshot.data, again.data) == []
