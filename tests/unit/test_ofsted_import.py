"""Importing Ofsted's management information: newer judgements update
settings, a fall below a lot's minimum raises one concern, and unknown URNs
and malformed rows are reported with their row numbers."""
import io
from datetime import date

import pytest

from app.domain import ofsted_import as ofsted
from app.domain.reference import OfstedJudgement as J, SettingType
from app.domain.states import (ConcernCategory, ConcernStatus, JobStatus, MembershipStatus,
                               Role, Severity)
from app.extensions import db
from app.jobs.compliance import new_ofsted_import, run_now
from app.models import AuditEvent, Concern, Membership, Setting
from tests.factories import make_provider, make_setting, outbox
from tests.factories_evaluation import make_staff

HEADER = ("URN,Setting name,Provider type,Local authority,"
          "Latest overall effectiveness judgement,Inspection date\n")


def import_csv(text: str, name: str = "ofsted-mi.csv", encoding: str = "utf-8"):
    job = new_ofsted_import(io.BytesIO(text.encode(encoding)), name, None, 1024 * 1024)
    db.session.commit()
    return run_now(job)


def home_on_lot(lot, judgement=J.GOOD, when=date(2024, 3, 1), **fields) -> Setting:
    provider = make_provider()
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                              status=MembershipStatus.ACTIVE, started_on=date(2024, 6, 1)))
    db.session.commit()
    return make_setting(provider, setting_type=SettingType.CHILDRENS_HOME,
                        ofsted_judgement=judgement, ofsted_judgement_date=when, **fields)


def reload(setting) -> Setting:
    db.session.expire_all()
    return db.session.get(Setting, setting.id)


def test_a_fall_below_the_lots_minimum_raises_one_concern_and_reimport_changes_nothing(dps):
    lot2 = dps.lots[1]  # children's residential homes: Good or better
    home = home_on_lot(lot2, ofsted_urn="SC654321", name="Maple Lodge")
    manager = make_staff(Role.MANAGER)
    text = HEADER + ("SC654321,Maple Lodge,Children's home,Newham,"
                     "Requires improvement to be good,12/05/2025\n")
    job = import_csv(text)
    assert job.status is JobStatus.FINISHED
    report = job.report
    assert (report["rows"], report["updated"], report["unchanged"]) == (1, 1, 0)
    home = reload(home)
    assert home.ofsted_judgement is J.REQUIRES_IMPROVEMENT
    assert home.ofsted_judgement_date == date(2025, 5, 12)

    [concern] = Concern.query.all()
    assert (concern.provider_id, concern.setting_id) == (home.provider_id, home.id)
    assert concern.category is ConcernCategory.OFSTED and concern.severity is Severity.HIGH
    assert concern.source == "ofsted_import" and concern.status is ConcernStatus.OPEN
    assert "Maple Lodge" in concern.description and "Good" in concern.description
    [downgrade] = report["downgrades"]
    assert downgrade["concern_id"] == concern.id and downgrade["row"] == 2
    assert (downgrade["before"], downgrade["after"]) == ("Good", "Requires improvement to be good")

    [event] = AuditEvent.query.filter_by(action="setting.ofsted_updated").all()
    assert (event.subject_type, event.subject_id) == ("setting", home.id)
    assert event.before == {"judgement": "good", "date": "2024-03-01"}
    assert event.after == {"judgement": "requires_improvement", "date": "2025-05-12"}

    [alert] = outbox(manager.email)
    assert alert.template == "compliance_ofsted_concern"
    assert alert.subject == f"High concern: Ofsted judgement for {home.provider.display_name}"
    assert f"/concerns/{concern.id}" in alert.body

    again = import_csv(text).report
    assert (again["updated"], again["unchanged"], again["downgrades"]) == (0, 1, [])
    assert Concern.query.count() == 1
    assert len(outbox(manager.email)) == 1


def test_inadequate_is_critical_and_an_upgrade_raises_nothing(dps):
    lot2 = dps.lots[1]
    failing = home_on_lot(lot2, ofsted_urn="SC100001")
    improving = home_on_lot(lot2, judgement=J.REQUIRES_IMPROVEMENT, ofsted_urn="SC100002")
    job = import_csv(HEADER + "SC100001,A,Children's home,Brent,Inadequate,2025-06-01\n"
                              "SC100002,B,Children's home,Brent,Outstanding,2025-06-02\n")
    [concern] = Concern.query.all()
    assert concern.setting_id == failing.id and concern.severity is Severity.CRITICAL
    assert reload(improving).ofsted_judgement is J.OUTSTANDING
    assert job.report["updated"] == 2


def test_no_concern_without_a_minimum_or_a_membership(dps):
    on_lot3 = home_on_lot(dps.lots[2], ofsted_urn="SC200001")  # supported accommodation: none
    applicant = make_setting(make_provider(), ofsted_urn="SC200002")
    import_csv(HEADER + "SC200001,A,Supported accommodation,Ealing,Inadequate,01/07/2025\n"
                        "SC200002,B,Independent fostering agency,Ealing,Inadequate,01/07/2025\n")
    assert Concern.query.count() == 0
    assert reload(on_lot3).ofsted_judgement is J.INADEQUATE
    assert reload(applicant).ofsted_judgement is J.INADEQUATE


def test_an_older_inspection_does_not_overwrite_a_newer_one(dps):
    home = home_on_lot(dps.lots[1], when=date(2025, 4, 1), ofsted_urn="SC300001")
    report = import_csv(HEADER + "SC300001,A,Children's home,Barnet,Inadequate,01/02/2024\n"
                        ).report
    assert (report["updated"], report["unchanged"]) == (0, 1)
    assert reload(home).ofsted_judgement is J.GOOD and Concern.query.count() == 0


def test_unknown_urns_and_malformed_rows_are_reported_with_row_numbers(dps):
    home_on_lot(dps.lots[1], ofsted_urn="SC400001")
    text = (HEADER
            + "SC400001,Known,Children's home,Hackney,Good,01/08/2025\n"  # row 2
            + "SC999999,Somewhere Else,Children's home,Hackney,Good,01/08/2025\n"  # row 3
            + ",No URN,Children's home,Hackney,Good,01/08/2025\n"  # row 4
            + "\n"  # row 5: blank, not a row of data
            + "SC400001,Known,Children's home,Hackney,Very good,01/08/2025\n"  # row 6
            + "SC400001,Known,Children's home,Hackney,Good,31/02/2025\n"  # row 7
            + "SC400001,Known,Children's home,Hackney,,\n")  # row 8
    report = import_csv(text).report
    assert report["rows"] == 6
    assert report["unknown_urns"] == [{"row": 3, "urn": "SC999999", "name": "Somewhere Else"}]
    assert report["malformed"] == [
        {"row": 4, "urn": "", "reason": "No URN"},
        {"row": 6, "urn": "SC400001", "reason": "Unknown judgement “Very good”"},
        {"row": 7, "urn": "SC400001",
         "reason": "Inspection date “31/02/2025” is not a date like 31/01/2025"},
        {"row": 8, "urn": "SC400001", "reason": "No overall judgement"},
    ]
    assert [r["row"] for r in ofsted.problem_rows(report)] == [3, 4, 6, 7, 8]


def test_headers_are_matched_loosely_and_extra_columns_ignored(dps):
    home = home_on_lot(dps.lots[1], ofsted_urn="SC500001")
    text = ("\ufeffLocal authority, urn ,PROVIDER NAME,Provider type,Places,"
            "Overall experiences and progress of children and young people,Inspection Date\r\n"
            "Camden,sc 500001,Oak,Children's home,4,GOOD,2025-09-09\r\n")
    report = import_csv(text).report
    assert report["updated"] == 1
    assert reload(home).ofsted_judgement_date == date(2025, 9, 9)


def test_a_windows_spreadsheet_file_is_read(dps):
    home_on_lot(dps.lots[1], ofsted_urn="SC600001")
    text = HEADER + "SC600009,Café Lodge,Children's home,Brent,Good,01/08/2025\r\n"
    report = import_csv(text, encoding="cp1252").report
    assert report["unknown_urns"][0]["name"] == "Café Lodge"


def test_a_file_without_the_columns_fails_the_job_with_a_reason(dps):
    job = import_csv("Name,Rating\nOak,Good\n")
    assert job.status is JobStatus.FAILED
    assert "no “URN” or “Latest overall effectiveness judgement” or “Inspection date”" in job.error
    with pytest.raises(ofsted.OfstedFileError):
        ofsted.check_header(b"Name,Rating\n")
    ofsted.check_header(HEADER.encode())


def test_lines_split_across_chunks_are_put_back_together():
    data = "URN,Setting name\r\nSC1,Caf\u00e9\r\nSC2,B\n".encode()
    for size in range(1, len(data) + 1):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert "".join(ofsted.text_lines(chunks)) == data.decode()
        assert list(ofsted.text_lines(chunks))[1] == "SC1,Caf\u00e9\r\n"


def test_the_command_line_imports_a_file_and_lists_its_problems(app, dps, tmp_path):
    home_on_lot(dps.lots[1], ofsted_urn="SC800001")
    path = tmp_path / "mi.csv"
    path.write_text(HEADER + "SC800001,A,Children's home,Brent,Inadequate,01/09/2025\n"
                             "SC800009,B,Children's home,Brent,Good,01/09/2025\n")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ofsted-import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 settings updated" in result.output and "1 below a lot's minimum" in result.output
    assert "row 3: Unknown URN SC800009 B" in result.output
    assert Concern.query.count() == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Rating\n")
    result = runner.invoke(args=["ofsted-import", str(bad)])
    assert result.exit_code == 1 and "no “URN”" in result.output
