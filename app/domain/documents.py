"""Uploading evidence: what a file may be, how it is named, and how a new
version replaces the old one.

The type of a file is judged by its content (libmagic), never by the name or
the browser's Content-Type; the name must then agree with the content. Only
the first bytes are read to judge it, and the stream is rewound, so a file is
never held whole in memory. A file that is refused is never stored.

Before its type, a file is checked for viruses (app.antivirus: ClamAV when
configured, else the EICAR test signature). A Word document is a zip: its
directory is checked for the marks of a zip bomb (too many parts, too large
or too compressed when expanded) and every part is then expanded within the
sizes the directory declares, so a lying directory is found too.
"""
import re
import unicodedata
import zipfile
from zlib import error as zlib_error
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import BinaryIO
from urllib.parse import quote

import magic
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import antivirus
from app.domain import audit
from app.domain.evidence import FINANCIAL_KINDS, ORGANISATION_KINDS, current_documents
from app.domain.reference import DocumentKind
from app.domain.states import DocumentStatus
from app.extensions import db
from app.models import Document
from app.storage import UploadTooLarge, new_key

# Enough for libmagic to see the signature and the first zip entries of a DOCX.
HEADER_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
MAX_FILENAME_CHARS = 255
# A DOCX's content-types part is a few KB; refuse to read an absurd one.
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
# Zip bomb limits for a DOCX. A long report with pictures has a few hundred
# parts, expands to tens of MB and compresses XML 10 to 30 times at most.
MAX_DOCX_PARTS = 1000
MAX_DOCX_EXPANDED_BYTES = 100 * 1024 * 1024
MAX_DOCX_RATIO = 100
DOCX_RATIO_FROM_BYTES = 1024 * 1024  # a small file cannot hurt, whatever its ratio
EXPIRY_WARNING_DAYS = 60
MAX_COVER = Decimal("9999999999.99")  # what a Numeric(12, 2) column holds

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class FileType:
    mime: str
    description: str
    extensions: tuple[str, ...]


ALLOWED_TYPES = {
    PDF: FileType(PDF, "a PDF", ("pdf",)),
    PNG: FileType(PNG, "a PNG image", ("png",)),
    JPEG: FileType(JPEG, "a JPEG image", ("jpg", "jpeg")),
    DOCX: FileType(DOCX, "a Word document (DOCX)", ("docx",)),
}
ALLOWED_DESCRIPTION = "a PDF, Word document (DOCX), PNG or JPEG"
WORD_MAIN_PART = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class UploadRejected(Exception):
    """The file cannot be accepted; the message is shown to the user as is."""


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str


def size_limit_text(max_bytes: int) -> str:
    """20971520 -> "20MB"; limits under a megabyte (tests) in KB."""
    if max_bytes >= 1024 * 1024:
        return f"{max_bytes / (1024 * 1024):g}MB"
    return f"{max_bytes / 1024:g}KB"


def too_large_message(max_bytes: int) -> str:
    return f"The selected file must be smaller than {size_limit_text(max_bytes)}"


def sanitise_filename(name: str | None) -> str:
    """The original name, kept only to show and to offer on download.

    Drops any directory part (either slash, so `..\\..\\x` and `../../x` both
    lose their path), control and invisible format characters and runs of
    white space; at most 255 characters, keeping the extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in _CONTROL.sub("", name)
                   if unicodedata.category(ch) not in ("Cf", "Cs", "Co"))
    name = " ".join(name.split())
    if name.strip(".") == "":
        return ""  # nothing but dots: "." or ".." name no file
    if len(name) > MAX_FILENAME_CHARS:
        suffix = PurePosixPath(name).suffix
        if len(suffix) > 20:
            suffix = ""
        name = name[:MAX_FILENAME_CHARS - len(suffix)].rstrip(" ") + suffix
    return name


def extension_of(filename: str) -> str:
    return PurePosixPath(filename).suffix.lower().lstrip(".")


def sniff(header: bytes) -> str:
    """The MIME type libmagic sees in the first bytes of a file."""
    return magic.from_buffer(header, mime=True)


NOT_WORD = (f"The selected file must be {ALLOWED_DESCRIPTION}. "
            "It is a zip file that is not a Word document")
ZIP_BOMB = ("The selected file expands to far more than its size when opened, as no real "
            "Word document does. Save it again as a new Word document and select it again")
VIRUS = "The selected file contains a virus"
NOT_SCANNED = "The selected file could not be checked for viruses. Try again later"


def docx_problem(stream: BinaryIO) -> str | None:
    """None for a real Word document, else the message to show.

    A DOCX is a zip with a Word main document declared in its content types.
    Its directory must not have the marks of a zip bomb; then each part is
    expanded in chunks, never beyond the size the directory declares (zipfile
    stops there, and a part that had more fails its CRC), so the work is
    bounded by MAX_DOCX_EXPANDED_BYTES whatever the file claims.
    """
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
            if len(parts) > MAX_DOCX_PARTS:
                return ZIP_BOMB
            names = {p.filename for p in parts}
            if "[Content_Types].xml" not in names or "word/document.xml" not in names:
                return NOT_WORD
            expanded = sum(p.file_size for p in parts)
            packed = sum(p.compress_size for p in parts)
            if expanded > MAX_DOCX_EXPANDED_BYTES or (
                    expanded > DOCX_RATIO_FROM_BYTES and expanded > MAX_DOCX_RATIO * max(packed, 1)):
                return ZIP_BOMB
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > MAX_CONTENT_TYPES_BYTES:
                return NOT_WORD
            with archive.open(info) as part:
                if WORD_MAIN_PART not in part.read(MAX_CONTENT_TYPES_BYTES):
                    return NOT_WORD
            for info in parts:
                with archive.open(info) as part:
                    while part.read(CHUNK_BYTES):
                        pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, RuntimeError, zlib_error):
        # Corrupt, encrypted or using a compression Word never writes.
        return NOT_WORD
    finally:
        stream.seek(0)
    return None


def scan_for_viruses(stream: BinaryIO, scanner: "antivirus.Scanner") -> None:
    """Raise UploadRejected when the scanner finds something or cannot answer."""
    try:
        found = scanner.scan(stream)
    except antivirus.ScannerUnavailable:
        raise UploadRejected(NOT_SCANNED) from None
    finally:
        stream.seek(0)
    if found:
        raise UploadRejected(VIRUS)


def check_file(stream: BinaryIO, filename: str | None,
               scanner: "antivirus.Scanner | None" = None) -> CheckedFile:
    """Judge an uploaded file by its content before anything is stored.

    `scanner`: the app's virus scanner (app.antivirus.get_scanner()); by
    default the built-in EICAR check. Raises UploadRejected with the message
    to show. Leaves the stream at the start, ready to be stored.
    """
    if not filename:
        raise UploadRejected("Select a file")
    name = sanitise_filename(filename)
    if not name:
        raise UploadRejected("The selected file has no usable name: rename it and select it again")
    stream.seek(0)
    header = stream.read(HEADER_BYTES)
    stream.seek(0)
    if not header:
        raise UploadRejected("The selected file is empty")
    scan_for_viruses(stream, scanner or antivirus.EicarScanner())
    mime = sniff(header)
    if mime in (DOCX, "application/zip"):
        # libmagic names a DOCX only when its first entries are in Word's
        # usual order; the zip directory decides either way.
        problem = docx_problem(stream)
        if problem:
            raise UploadRejected(problem)
        mime = DOCX
    file_type = ALLOWED_TYPES.get(mime)
    if file_type is None:
        raise UploadRejected(f"The selected file must be {ALLOWED_DESCRIPTION}")
    ext = extension_of(name)
    if ext not in file_type.extensions:
        expected = " or ".join(f".{e}" for e in file_type.extensions)
        if not ext:
            raise UploadRejected(f"The selected file is {file_type.description} but its name "
                                 f"does not end in {expected}")
        raise UploadRejected(f"The selected file is {file_type.description} but is named .{ext}")
    return CheckedFile(filename=name, content_type=mime)


def parse_cover_amount(text: str | None) -> Decimal:
    """Pounds as typed ("£5,000,000", "2500000.50") to a Decimal; ValueError
    with the message to show."""
    cleaned = (text or "").strip().replace(",", "").replace(" ", "")
    if cleaned.startswith("£"):
        cleaned = cleaned[1:]
    if not cleaned:
        raise ValueError("Enter the cover amount")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Cover amount must be a number, like 5,000,000") from None
    if not amount.is_finite():
        raise ValueError("Cover amount must be a number, like 5,000,000")
    if amount <= 0:
        raise ValueError("Cover amount must be more than £0")
    if amount.as_tuple().exponent < -2:
        raise ValueError("Cover amount must be in pounds and pence, like 5,000,000 or 2,500.50")
    if amount > MAX_COVER:
        raise ValueError("Cover amount must be £9,999,999,999.99 or less")
    return amount.quantize(Decimal("0.01"))


def ascii_filename(filename: str) -> str:
    """A name every browser accepts in a quoted header parameter."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._() -]", "_", ascii_name).strip(" .")
    return ascii_name or "document"


def content_disposition(filename: str) -> str:
    """`attachment` with a plain ASCII name and the exact UTF-8 name (RFC 6266)."""
    return (f'attachment; filename="{ascii_filename(filename)}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f}KB"
    return f"{size / (1024 * 1024):.1f}MB"


def expiry_notice(expires_on: date | None, today: date) -> tuple[str, str] | None:
    """(text, tag colour) when an expiry needs attention, else None."""
    if expires_on is None:
        return None
    days = (expires_on - today).days
    if days < 0:
        return "Expired", "red"
    if days == 0:
        return "Expires today", "orange"
    if days <= EXPIRY_WARNING_DAYS:
        return f"Expires in {days} day{'s' if days != 1 else ''}", "yellow"
    return None


def _newest_first(doc) -> tuple:
    return (doc.uploaded_at, doc.id or 0)


@dataclass
class LibraryEntry:
    """One row of the evidence library: a kind (and setting) and its versions."""
    kind: DocumentKind
    setting: object | None
    shown: object | None  # the newest version not replaced: what the provider sees
    earlier: list
    requirement: str  # "required", "one_of" (credit report or accounts), "optional"
    satisfied: bool  # counts towards the minimum criteria (awaiting check or verified)

    @property
    def missing(self) -> bool:
        return self.shown is None and self.requirement != "optional"


LIBRARY_KINDS = (
    DocumentKind.PUBLIC_LIABILITY,
    DocumentKind.EMPLOYERS_LIABILITY,
    DocumentKind.PROFESSIONAL_INDEMNITY,
    DocumentKind.MOTOR_INSURANCE,
    DocumentKind.CREDIT_REPORT,
    DocumentKind.ACCOUNTS,
    DocumentKind.SAFEGUARDING_POLICY,
)
UPLOAD_KINDS = LIBRARY_KINDS + (DocumentKind.OFSTED_CERTIFICATE,)


def library_entries(documents, settings) -> list[LibraryEntry]:
    """Every kind the library lists, then an Ofsted certificate per setting.

    `documents`: all the provider's documents; `settings`: its settings.
    Whether an item is required follows the minimum criteria in
    app.domain.evidence.
    """
    usable = current_documents(documents)
    versions: dict[tuple, list] = {}
    for doc in documents:
        key = (doc.kind, doc.setting_id if doc.kind.per_setting else None)
        versions.setdefault(key, []).append(doc)
    has_financial = any((k, None) in usable for k in FINANCIAL_KINDS)

    def entry(kind, setting, requirement):
        key = (kind, setting.id if setting is not None else None)
        docs = sorted(versions.get(key, []), key=_newest_first, reverse=True)
        shown = next((d for d in docs if d.status is not DocumentStatus.SUPERSEDED), None)
        return LibraryEntry(kind=kind, setting=setting, shown=shown,
                            earlier=[d for d in docs if d is not shown],
                            requirement=requirement, satisfied=key in usable)

    entries = []
    for kind in LIBRARY_KINDS:
        if kind in ORGANISATION_KINDS:
            requirement = "required"
        elif kind in FINANCIAL_KINDS:
            requirement = "optional" if has_financial else "one_of"
        else:
            requirement = "optional"
        entries.append(entry(kind, None, requirement))
    for setting in settings:
        entries.append(entry(DocumentKind.OFSTED_CERTIFICATE, setting, "required"))
    return entries


def missing_count(entries: list[LibraryEntry]) -> int:
    """Required items not uploaded; the credit report or accounts count once."""
    required = sum(1 for e in entries if e.missing and e.requirement == "required")
    return required + any(e.missing and e.requirement == "one_of" for e in entries)


def versions_of(provider_id: int, kind: DocumentKind, setting_id: int | None) -> list[Document]:
    """Every version of one kind (and setting) of a provider's evidence, newest first."""
    q = sa.select(Document).where(Document.provider_id == provider_id, Document.kind == kind)
    if kind.per_setting:
        q = q.where(Document.setting_id == setting_id)
    return list(db.session.execute(
        q.options(selectinload(Document.uploaded_by))
        .order_by(Document.uploaded_at.desc(), Document.id.desc())
    ).scalars())


@dataclass
class Metadata:
    insurer: str | None = None
    policy_number: str | None = None
    cover_amount: Decimal | None = None
    expires_on: date | None = None


def _text(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def store_document(ctx: audit.AuditContext, storage, stream: BinaryIO, checked: CheckedFile, *,
                   provider_id: int, kind: DocumentKind, setting_id: int | None,
                   uploaded_by_id: int | None, metadata: Metadata, max_bytes: int) -> Document:
    """Store an already checked file and record it as the new current version.

    The previous current version of the same kind (and setting) is marked
    superseded. Raises UploadRejected when the file is over `max_bytes`; then
    nothing is stored. The caller commits, and deletes `document.storage_key`
    from storage if the commit fails.
    """
    if not kind.per_setting:
        setting_id = None
    key = new_key(f"providers/{provider_id}")
    try:
        stored = storage.save(key, stream, max_bytes)
    except UploadTooLarge:
        raise UploadRejected(too_large_message(max_bytes)) from None
    if stored.size == 0:
        # The header was read from the same stream, so only a stream that changed
        # under us gets here; refuse rather than keep an empty document.
        storage.delete(key)
        raise UploadRejected("The selected file is empty")
    try:
        previous = [d for d in versions_of(provider_id, kind, setting_id)
                    if d.status in (DocumentStatus.AWAITING_CHECK, DocumentStatus.VERIFIED)]
        document = Document(
            provider_id=provider_id, setting_id=setting_id, kind=kind,
            status=DocumentStatus.AWAITING_CHECK, storage_key=key,
            original_filename=checked.filename, content_type=checked.content_type,
            size_bytes=stored.size, sha256=stored.sha256, insurer=metadata.insurer,
            policy_number=metadata.policy_number, cover_amount=metadata.cover_amount,
            expires_on=metadata.expires_on, uploaded_by_id=uploaded_by_id,
        )
        db.session.add(document)
        db.session.flush()
        audit.record(ctx, "document.uploaded", "document", document.id, provider_id=provider_id,
                     after={"kind": kind.value, "setting_id": setting_id,
                            "filename": checked.filename, "content_type": checked.content_type,
                            "size_bytes": stored.size, "sha256": stored.sha256,
                            "insurer": metadata.insurer, "policy_number": metadata.policy_number,
                            # JSON column: Decimal and date as text.
                            "cover_amount": _text(metadata.cover_amount),
                            "expires_on": _text(metadata.expires_on)})
        for old in previous:
            before = old.status.value
            old.status = DocumentStatus.SUPERSEDED
            audit.record(ctx, "document.superseded", "document", old.id, provider_id=provider_id,
                         before={"status": before},
                         after={"status": old.status.value, "replaced_by": document.id})
    except BaseException:
        storage.delete(key)
        raise
    return document
