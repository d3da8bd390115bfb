"""Spreadsheet exports: the rows (prices in force on a date, a round's lines),
CSV written a line at a time and safe from formulas, and XLSX built in a
temporary file that openpyxl reads back with numbers and dates, then removed."""
import csv
import io
import os
import tempfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from app.domain import exports
from app.domain.states import MembershipStatus
from tests.factories import make_provider
from tests.factories_fee_review import D, member

ON = date(2026, 6, 1)


@pytest.fixture
def priced(dps):
    lot1, lot2 = dps.lots[0], dps.lots[1]
    ifa = member(lot1, make_provider(trading_name="Brightwater Fostering"),
                 weekly=("925", "950"), rates=("25.50",), custom=("Sibling fee", "week", "120"))
    suspended = member(lot1, make_provider(trading_name="Kingfisher Foster Care"),
                       weekly=("990",), rates=(), status=MembershipStatus.SUSPENDED)
    member(lot1, make_provider(trading_name="Riverbend Foster Care"), weekly=("880",),
           rates=(), status=MembershipStatus.REMOVED)
    home = member(lot2, make_provider(trading_name="=HYPERLINK(\"x\")"), weekly=("3800",),
                  rates=())
    return {"lot1": lot1, "lot2": lot2, "ifa": ifa, "suspended": suspended, "home": home}


def test_price_rows_list_every_price_in_force_of_current_members(priced):
    lot1 = priced["lot1"]
    rows = list(exports.price_rows(ON, [lot1.id]))
    assert [(r[0], r[3], r[4], r[5], r[9]) for r in rows] == [
        ("Brightwater Fostering", lot1.placement_types[0].name, "week", D("925.00"), "Active"),
        ("Brightwater Fostering", lot1.placement_types[1].name, "week", D("950.00"), "Active"),
        ("Brightwater Fostering", lot1.service_items[0].name, "hour", D("25.50"), "Active"),
        ("Brightwater Fostering", "Sibling fee", "week", D("120.00"), "Active"),
        ("Kingfisher Foster Care", lot1.placement_types[0].name, "week", D("990.00"),
         "Suspended"),
    ]
    assert rows[0][2] == lot1.title and rows[0][6] == date(2024, 4, 1) and rows[0][7] is None
    assert rows[0][8] == "Application"
    assert list(exports.price_rows(date(2024, 3, 31), [lot1.id])) == []  # before they joined
    assert list(exports.price_rows(ON, [])) == []


def test_csv_starts_with_a_bom_and_never_writes_a_formula(priced):
    lines = exports.csv_lines(exports.PRICE_HEADER,
                              exports.price_rows(ON, [priced["lot1"].id, priced["lot2"].id]))
    first = next(lines)
    assert first.startswith("\ufeffProvider,Company number,Lot,Item")
    rest = list(lines)  # a generator: one line per row
    assert len(rest) == 6
    rows = list(csv.reader(io.StringIO("".join(rest))))
    home = [r for r in rows if "HYPERLINK" in r[0]][0]
    assert home[0] == "'=HYPERLINK(\"x\")" and home[5] == "3800.00"


def test_cells_are_written_as_a_spreadsheet_reads_them():
    assert exports._cell(Decimal("4.10")) == "4.10"
    assert exports._cell(None) == ""
    assert exports._cell(datetime(2027, 1, 11, 9, 30, 5, 123)) == "2027-01-11 09:30:05"
    assert exports._cell("-1+1") == "'-1+1" and exports._cell("@sum") == "'@sum"
    assert exports._cell("Oak House") == "Oak House"


def test_xlsx_opens_in_openpyxl_with_numbers_dates_and_text(priced):
    rows = exports.price_rows(ON, [priced["lot1"].id, priced["lot2"].id])
    data = b"".join(exports.xlsx_chunks(exports.PRICE_HEADER, rows, "Prices 2026-06-01"))
    book = load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet.title == "Prices 2026-06-01"
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == tuple(exports.PRICE_HEADER)
    assert sheet["A1"].font.bold
    by_item = {(r[0], r[3]): r for r in values[1:]}
    lot1 = priced["lot1"]
    brightwater = by_item[("Brightwater Fostering", lot1.placement_types[0].name)]
    assert brightwater[5] == 925 and isinstance(brightwater[5], (int, float))
    assert brightwater[6].date() == date(2024, 4, 1)
    assert by_item[("Brightwater Fostering", lot1.service_items[0].name)][5] == 25.5
    home = [r for r in values[1:] if "HYPERLINK" in r[0]][0]
    assert home[0] == "=HYPERLINK(\"x\")"  # text, not a formula
    assert sheet.cell(row=[r[0] for r in values].index(home[0]) + 1, column=1).data_type == "s"
    assert sum(r[5] for r in values[1:] if r[4] == "week" and r[3] != "Sibling fee") == \
        925 + 950 + 990 + 3800


def test_the_temporary_workbook_is_removed_even_when_the_download_stops(priced, monkeypatch):
    made = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        handle, path = real(*args, **kwargs)
        made.append(path)
        return handle, path

    monkeypatch.setattr(exports.tempfile, "mkstemp", spy)
    chunks = exports.xlsx_chunks(exports.PRICE_HEADER, exports.price_rows(ON, [priced["lot1"].id]),
                                 "Prices")
    next(chunks)
    assert os.path.exists(made[0])
    chunks.close()  # the client went away
    assert not os.path.exists(made[0])
    list(exports.xlsx_chunks(["A"], iter([("x",)]), "Done"))
    assert not os.path.exists(made[1])


def test_rows_are_read_in_batches(priced, monkeypatch):
    """A bounded number of rows in memory: the query streams with yield_per."""
    seen = {}
    real = exports.db.session.execute

    def spy(stmt, *args, **kwargs):
        seen.update(kwargs.get("execution_options") or {})
        return real(stmt, *args, **kwargs)

    monkeypatch.setattr(exports.db.session, "execute", spy)
    assert len(list(exports.price_rows(ON, [priced["lot1"].id]))) == 5
    assert seen == {"yield_per": exports.BATCH}
