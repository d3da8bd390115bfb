"""Spreadsheet exports: rows as generators, written as CSV or XLSX a chunk at
a time, so a national DPS (hundreds of thousands of prices) never sits in
memory whole.

Rows come from one query each, read in batches (`yield_per`: a server-side
cursor on PostgreSQL) and selecting columns, not objects, so nothing
accumulates in the session. Values keep their types (Decimal, date) so an
XLSX cell is a number or a date a commissioner can sum and sort; CSV writes
them as text. Nothing here knows about HTTP: the views wrap the generators
in a streamed response.
"""
import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.domain.prices import in_force
from app.domain.states import LineDecision, MembershipStatus, PriceSource, SubmissionStatus
from app.extensions import db
from app.models import (FeeReviewLine, FeeReviewSubmission, Lot, Membership, PlacementType, Price,
                        Provider, ServiceItem)

BATCH = 1000
LONDON = ZoneInfo("Europe/London")
CHUNK_BYTES = 64 * 1024
SOURCE_LABELS = {PriceSource.APPLICATION: "Application", PriceSource.FEE_REVIEW: "Fee review",
                 PriceSource.NEGOTIATION: "Negotiation"}

PRICE_HEADER = ["Provider", "Company number", "Lot", "Item", "Unit", "Amount (£)",
                "Valid from", "Valid until", "Source", "Membership"]
ROUND_HEADER = ["Provider", "Company number", "Lot", "Item", "Unit", "Current (£)",
                "Requested (£)", "Uplift (%)", "Decision", "Counter-offer (£)", "Agreed (£)",
                "Status", "Submitted at", "Agreed at"]


def _provider_name():
    """Provider.display_name in SQL: the trading name, else the legal name."""
    return sa.func.coalesce(sa.func.nullif(Provider.trading_name, ""), Provider.legal_name)


def _stream(stmt) -> Iterator[sa.Row]:
    """Rows of `stmt` a batch at a time."""
    result = db.session.execute(stmt, execution_options={"yield_per": BATCH})
    try:
        yield from result
    finally:
        result.close()


# ------------------------------------------------------------------ prices

def price_rows(on: date, lot_ids: Iterable[int]) -> Iterator[tuple]:
    """Every ceiling price and additional-service rate in force on `on` on the
    given lots, of providers holding a place on the lot (active or
    suspended), by lot, provider and item: one tuple per PRICE_HEADER."""
    lot_ids = list(lot_ids)
    if not lot_ids:
        return
    stmt = (
        sa.select(_provider_name(), Provider.company_number, Lot.number, Lot.name,
                  PlacementType.name, ServiceItem.name, ServiceItem.unit, Price.custom_name,
                  Price.custom_unit, Price.amount, Price.valid_from, Price.valid_to,
                  Price.source, Membership.status)
        .select_from(Price)
        .join(Provider, Provider.id == Price.provider_id)
        .join(Lot, Lot.id == Price.lot_id)
        .join(Membership, sa.and_(Membership.provider_id == Price.provider_id,
                                  Membership.lot_id == Price.lot_id))
        .outerjoin(PlacementType, PlacementType.id == Price.placement_type_id)
        .outerjoin(ServiceItem, ServiceItem.id == Price.service_item_id)
        .where(Price.lot_id.in_(lot_ids), in_force(on),
               Membership.status != MembershipStatus.REMOVED)
        # Weekly fees first, then catalogue services, then the provider's own items.
        .order_by(Lot.number, _provider_name(), Provider.id,
                  sa.case((Price.placement_type_id.is_not(None), 0),
                          (Price.service_item_id.is_not(None), 1), else_=2),
                  PlacementType.position, ServiceItem.position, Price.custom_name, Price.id))
    for (provider, company, lot_number, lot_name, type_name, item_name, item_unit, custom_name,
         custom_unit, amount, valid_from, valid_to, source, membership) in _stream(stmt):
        if type_name is not None:
            item, unit = type_name, "week"
        elif item_name is not None:
            item, unit = item_name, item_unit.value if item_unit else ""
        else:
            item, unit = custom_name or "", custom_unit.value if custom_unit else ""
        yield (provider, company or "", f"Lot {lot_number}: {lot_name}", item, unit, amount,
               valid_from, valid_to, SOURCE_LABELS.get(source, str(source)), membership.label)


# ------------------------------------------------------------------ a fee review round

def local_time(value: datetime | None) -> datetime | None:
    """A stored (naive UTC) time as a UK wall-clock time, as people read it."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(LONDON).replace(tzinfo=None,
                                                                         microsecond=0)


def uplift_percent(current: Decimal, requested: Decimal) -> Decimal:
    from app.domain.fee_review import uplift
    return uplift(current, requested)


def round_rows(round_id: int) -> Iterator[tuple]:
    """One tuple per ROUND_HEADER for every line of every submission of the
    round: what each provider held, asked, what was decided and agreed."""
    stmt = (
        sa.select(_provider_name(), Provider.company_number, Lot.number, Lot.name,
                  FeeReviewLine.label, FeeReviewLine.unit, FeeReviewLine.current_amount,
                  FeeReviewLine.proposed_amount, FeeReviewLine.decision,
                  FeeReviewLine.counter_amount, FeeReviewLine.agreed_amount,
                  FeeReviewSubmission.status, FeeReviewSubmission.submitted_at,
                  FeeReviewSubmission.agreed_at)
        .select_from(FeeReviewLine)
        .join(FeeReviewSubmission, FeeReviewSubmission.id == FeeReviewLine.submission_id)
        .join(Provider, Provider.id == FeeReviewSubmission.provider_id)
        .join(Lot, Lot.id == FeeReviewLine.lot_id)
        .where(FeeReviewSubmission.round_id == round_id)
        .order_by(_provider_name(), Provider.id, Lot.number, FeeReviewLine.position,
                  FeeReviewLine.id))
    for (provider, company, lot_number, lot_name, label, unit, current, proposed, decision,
         counter, agreed, status, submitted_at, agreed_at) in _stream(stmt):
        # Before submission nothing was asked yet: "requested" stays blank.
        asked = status not in (SubmissionStatus.INVITED, SubmissionStatus.DRAFT,
                               SubmissionStatus.NO_RESPONSE)
        requested = (proposed if proposed is not None else current) if asked else None
        yield (provider, company or "", f"Lot {lot_number}: {lot_name}", label, unit, current,
               requested,
               uplift_percent(current, requested) if requested is not None else None,
               decision.label if asked and decision is not LineDecision.PENDING else "",
               counter, agreed, status.label, local_time(submitted_at), local_time(agreed_at))


# ------------------------------------------------------------------ writers

def _cell(value) -> str:
    """A CSV cell as text; never a formula a spreadsheet would run (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    """The CSV a line at a time, starting with a byte order mark so Excel
    reads it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)

    def line(values) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow([_cell(v) for v in values])
        return out.getvalue()

    yield "\ufeff" + line(header)
    for row in rows:
        yield line(row)


def _xlsx_value(sheet, value):
    if isinstance(value, str) and value[:1] == "=":
        # Text stays text: openpyxl would store "=..." as a formula to run.
        from openpyxl.cell import WriteOnlyCell
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


def xlsx_chunks(header: list[str], rows: Iterable[tuple], sheet_title: str) -> Iterator[bytes]:
    """An XLSX workbook of one sheet, built with openpyxl's write-only mode
    (rows go straight to disk) in a temporary file, then read back in chunks.
    The file is deleted once read, or if the reader stops early."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=sheet_title[:31])
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        heading = []
        for text in header:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            heading.append(cell)
        sheet.append(heading)
        for row in rows:
            sheet.append([_xlsx_value(sheet, v) for v in row])
        workbook.save(path)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
    finally:
        os.unlink(path)
