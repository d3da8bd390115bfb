"""Importing Ofsted's management information for children's social care
providers: a CSV with a row per setting (URN, name, provider type, latest
overall judgement, inspection date).

A known setting takes the judgement of a newer inspection; one that falls
below the minimum of a lot its provider is on raises a concern. Unknown URNs
and malformed rows are reported with their row number, never skipped
silently. Importing the same file twice changes nothing the second time: only
a newer inspection updates a setting, and only an update raises a concern.

The file is read as a stream (twice: once to count the rows for progress),
never whole.
"""
import codecs
import csv
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.domain import audit
from app.domain.compliance import Outgoing
from app.domain.concerns import alert_addresses, raise_concern
from app.domain.reference import OfstedJudgement
from app.domain.states import ConcernCategory, MembershipStatus, Severity
from app.extensions import db
from app.models import Membership, Setting

BATCH_SIZE = 200
# Header texts (compared lower-case, spaces collapsed) for each column we read.
COLUMNS = {
    "urn": ("urn",),
    "name": ("setting name", "provider name"),
    "provider_type": ("provider type",),
    "judgement": ("overall experiences and progress of children and young people",
                  "latest overall effectiveness judgement", "overall effectiveness",
                  "overall effectiveness judgement"),
    "inspection_date": ("inspection date", "latest full inspection date"),
}
REQUIRED = {"urn": "URN", "judgement": "Latest overall effectiveness judgement",
            "inspection_date": "Inspection date"}
JUDGEMENTS = {
    "outstanding": OfstedJudgement.OUTSTANDING,
    "good": OfstedJudgement.GOOD,
    "requires improvement to be good": OfstedJudgement.REQUIRES_IMPROVEMENT,
    "requires improvement": OfstedJudgement.REQUIRES_IMPROVEMENT,
    "inadequate": OfstedJudgement.INADEQUATE,
}
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")
CURRENT_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED)


class OfstedFileError(Exception):
    """The file as a whole cannot be read; the message is shown as is."""


@dataclass(frozen=True)
class OfstedRow:
    row: int
    urn: str
    name: str
    provider_type: str
    judgement: OfstedJudgement
    inspection_date: date


@dataclass(frozen=True)
class BadRow:
    row: int
    urn: str
    reason: str


def _norm(text: str | None) -> str:
    return " ".join((text or "").replace("\ufeff", "").split()).lower()


def column_positions(header: list[str]) -> dict[str, int]:
    """Which column holds what; extra columns are ignored. Raises
    OfstedFileError naming any required column that is missing."""
    names = [_norm(h) for h in header]
    found = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [label for key, label in REQUIRED.items() if key not in found]
    if missing:
        raise OfstedFileError(
            "The file is not in the layout of Ofsted's management information: it has no "
            + " or ".join(f"“{m}”" for m in missing) + " column")
    return found


def parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def normalise_urn(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "").upper()


def _cell(cells: list[str], columns: dict[str, int], key: str) -> str:
    i = columns.get(key)
    return cells[i].strip() if i is not None and i < len(cells) else ""


def parse_rows(lines: Iterable[str]) -> Iterator[OfstedRow | BadRow]:
    """Each data row, parsed or with the reason it cannot be. Row numbers are
    the spreadsheet's: the header is row 1. Blank lines are not rows."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise OfstedFileError("The file is empty") from None
    except csv.Error as exc:
        raise OfstedFileError(f"The file is not a readable CSV file: {exc}") from None
    columns = column_positions(header)
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield BadRow(number, "", f"Not readable as CSV: {exc}")
            continue
        number += 1
        if not any(c.strip() for c in cells):
            continue
        yield _parse(number, cells, columns)


def _parse(number: int, cells: list[str], columns: dict[str, int]) -> OfstedRow | BadRow:
    urn = normalise_urn(_cell(cells, columns, "urn"))
    if not urn:
        return BadRow(number, "", "No URN")
    judgement_text = _cell(cells, columns, "judgement")
    judgement = JUDGEMENTS.get(_norm(judgement_text))
    if judgement is None:
        reason = (f"Unknown judgement “{judgement_text}”" if judgement_text
                  else "No overall judgement")
        return BadRow(number, urn, reason)
    date_text = _cell(cells, columns, "inspection_date")
    inspected = parse_date(date_text) if date_text else None
    if inspected is None:
        reason = (f"Inspection date “{date_text}” is not a date like 31/01/2025"
                  if date_text else "No inspection date")
        return BadRow(number, urn, reason)
    return OfstedRow(number, urn, _cell(cells, columns, "name"),
                     _cell(cells, columns, "provider_type"), judgement, inspected)


# --------------------------------------------------------------- reading bytes

def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) when the sample decodes as
    such, else Windows-1252, as spreadsheets on Windows save CSV."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode a file's byte chunks into lines as the csv module wants them
    (newlines kept), one chunk in memory at a time."""
    decoder = None
    pending = ""
    for chunk in chunks:
        if decoder is None:
            decoder = codecs.getincrementaldecoder(detect_encoding(chunk))(errors="replace")
        pending += decoder.decode(chunk)
        lines = pending.splitlines(keepends=True)
        # The last piece may be a line cut in two (or "\r" of a "\r\n"): keep it.
        pending = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        yield from lines
    if decoder is not None:
        pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def check_header(sample: bytes) -> None:
    """Judge an upload by its first bytes: text, with the columns we need.
    Raises OfstedFileError with the message to show."""
    if not sample:
        raise OfstedFileError("The selected file is empty")
    if b"\x00" in sample:
        raise OfstedFileError("The selected file must be a CSV file")
    first_line = next(text_lines([sample]), "")
    try:
        header = next(csv.reader([first_line]))
    except (StopIteration, csv.Error):
        raise OfstedFileError("The selected file must be a CSV file") from None
    column_positions(header)


# ------------------------------------------------------------------- the import

Progress = Callable[[int, int], None]


def count_rows(lines: Iterable[str]) -> int:
    return sum(1 for _ in parse_rows(lines))


def run_ofsted_import(ctx: audit.AuditContext, open_lines: Callable[[], Iterable[str]], *,
                      source_name: str, progress: Progress | None = None,
                      outbox: list | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Apply a file of Ofsted judgements; return the report.

    `open_lines()` gives the file's lines afresh each call. `progress(done,
    total)` is called after each batch of rows, where the caller may commit
    and then send the alerts about new concerns added to `outbox`.
    """
    outbox = outbox if outbox is not None else []
    total = count_rows(open_lines())
    report = {"file": source_name, "rows": total, "updated": 0, "unchanged": 0,
              "downgrades": [], "unknown_urns": [], "malformed": []}
    if progress:
        progress(0, total)
    done = 0
    batch: list = []
    for item in parse_rows(open_lines()):
        batch.append(item)
        if len(batch) >= batch_size:
            _apply_batch(ctx, batch, source_name, report, outbox)
            done += len(batch)
            batch = []
            if progress:
                progress(done, total)
    if batch:
        _apply_batch(ctx, batch, source_name, report, outbox)
        done += len(batch)
        if progress:
            progress(done, total)
    return report


def _apply_batch(ctx, batch: list, source_name: str, report: dict, outbox: list) -> None:
    rows = [r for r in batch if isinstance(r, OfstedRow)]
    urns = {r.urn for r in rows}
    settings_by_urn: dict[str, list[Setting]] = {}
    if urns:
        # Stored URNs are compact upper case (providers.parse_ofsted_urn), as are ours.
        for setting in db.session.execute(
                sa.select(Setting).where(Setting.ofsted_urn.in_(urns))
                .options(joinedload(Setting.provider)).order_by(Setting.id)).scalars():
            settings_by_urn.setdefault(normalise_urn(setting.ofsted_urn), []).append(setting)
    provider_ids = {s.provider_id for settings in settings_by_urn.values() for s in settings}
    lots_by_provider: dict[int, list] = {}
    if provider_ids:
        for m in db.session.execute(
                sa.select(Membership).where(Membership.provider_id.in_(provider_ids),
                                            Membership.status.in_(CURRENT_STATUSES))
                .options(joinedload(Membership.lot))).scalars():
            lots_by_provider.setdefault(m.provider_id, []).append(m.lot)
    for item in batch:
        if isinstance(item, BadRow):
            report["malformed"].append({"row": item.row, "urn": item.urn, "reason": item.reason})
            continue
        settings = settings_by_urn.get(item.urn)
        if not settings:
            report["unknown_urns"].append({"row": item.row, "urn": item.urn, "name": item.name})
            continue
        for setting in settings:
            _apply_row(ctx, item, setting, lots_by_provider.get(setting.provider_id, []),
                       source_name, report, outbox)


def _apply_row(ctx, row: OfstedRow, setting: Setting, lots: list, source_name: str,
               report: dict, outbox: list) -> None:
    known = setting.ofsted_judgement_date
    if known is not None and row.inspection_date <= known:
        report["unchanged"] += 1  # the same inspection again, or an older one
        return
    before = {"judgement": setting.ofsted_judgement.value,
              "date": known.isoformat() if known else None}
    previous = setting.ofsted_judgement
    setting.ofsted_judgement = row.judgement
    setting.ofsted_judgement_date = row.inspection_date
    audit.record(ctx, "setting.ofsted_updated", "setting", setting.id,
                 provider_id=setting.provider_id, before=before,
                 after={"judgement": row.judgement.value,
                        "date": row.inspection_date.isoformat()},
                 reason=f"Ofsted import: {source_name}, row {row.row}")
    report["updated"] += 1
    below = sorted((lot for lot in lots if not row.judgement.meets(lot.min_ofsted_judgement)),
                   key=lambda lot: lot.number)
    if not below:
        return
    minimums = "; ".join(f"{lot.title} needs {lot.min_ofsted_judgement.label}" for lot in below)
    description = (f"Ofsted judged {setting.name} (URN {setting.ofsted_urn}) "
                   f"“{row.judgement.label}” at the inspection of "
                   f"{row.inspection_date.day} {row.inspection_date:%B %Y} "
                   f"(previously “{previous.label}”). {minimums}.")
    severity = Severity.CRITICAL if row.judgement is OfstedJudgement.INADEQUATE else Severity.HIGH
    concern = raise_concern(ctx, setting.provider, setting=setting,
                            category=ConcernCategory.OFSTED, severity=severity,
                            description=description, source="ofsted_import")
    report["downgrades"].append({
        "row": row.row, "urn": setting.ofsted_urn, "setting_id": setting.id,
        "setting_name": setting.name, "provider_id": setting.provider_id,
        "provider_name": setting.provider.display_name, "before": previous.label,
        "after": row.judgement.label, "inspection_date": row.inspection_date.isoformat(),
        "lots": [lot.title for lot in below], "concern_id": concern.id,
        "severity": severity.label})
    # Managers hear of serious concerns at once (concerns.alert_addresses); not
    # the person who ran the import, who sees them in the report.
    for to in alert_addresses(concern, exclude_user_id=ctx.actor_id):
        outbox.append(Outgoing(to, "compliance_ofsted_concern", {
            "provider_name": setting.provider.display_name, "setting_name": setting.name,
            "urn": setting.ofsted_urn, "severity": severity.label, "description": description},
            links={"link": ("concerns.detail", {"concern_id": concern.id})}))


def problem_rows(report: dict) -> list[dict]:
    """Unknown URNs and malformed rows together, in file order (for the CSV)."""
    rows = [{"row": r["row"], "urn": r["urn"], "problem": "Unknown URN",
             "detail": r.get("name", "")} for r in report.get("unknown_urns", [])]
    rows += [{"row": r["row"], "urn": r["urn"], "problem": "Malformed row",
              "detail": r["reason"]} for r in report.get("malformed", [])]
    return sorted(rows, key=lambda r: r["row"])
