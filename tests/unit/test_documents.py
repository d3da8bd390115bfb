"""Upload rules: what a file may be (by content), how its name is kept, the
library's view of versions, and storing a new version."""
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain import documents as d
from app.domain.reference import DocumentKind as K
from app.domain.states import DocumentStatus as S

# Tiny real files, built here so the tests show exactly what is judged.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100
HTML = b"<!DOCTYPE html><html><head><title>Invoice</title></head><body>Pay now</body></html>"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
WORD_DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:body><w:p><w:r><w:t>Safeguarding policy</w:t></w:r></w:p></w:body></w:document>')


def docx_bytes(with_rels: bool = True) -> bytes:
    """A real (minimal) Word document, entries in the order Word writes them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        if with_rels:
            z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", WORD_DOCUMENT)
    return buf.getvalue()


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "not a Word document")
    return buf.getvalue()


def check(data: bytes, name: str) -> d.CheckedFile:
    return d.check_file(io.BytesIO(data), name)


# --- type by content ---------------------------------------------------------

@pytest.mark.parametrize("data,name,mime", [
    (PDF, "insurance.pdf", "application/pdf"),
    (PDF, "INSURANCE.PDF", "application/pdf"),
    (png_bytes(), "certificate.png", "image/png"),
    (JPEG, "scan.jpg", "image/jpeg"),
    (JPEG, "scan.jpeg", "image/jpeg"),
    (docx_bytes(), "policy.docx", d.DOCX),
    # libmagic calls this one a plain zip; its directory shows it is a Word document.
    (docx_bytes(with_rels=False), "policy.docx", d.DOCX),
])
def test_allowed_types_are_accepted_by_content(data, name, mime):
    assert check(data, name) == d.CheckedFile(filename=name, content_type=mime)


@pytest.mark.parametrize("data,name,message", [
    (ELF, "policy.pdf", "The selected file must be a PDF, Word document (DOCX), PNG or JPEG"),
    (HTML, "policy.pdf", "The selected file must be a PDF, Word document (DOCX), PNG or JPEG"),
    (b"just some text\n", "policy.pdf", "must be a PDF, Word document (DOCX), PNG or JPEG"),
    (zip_bytes(), "policy.docx", "It is a zip file that is not a Word document"),
    (png_bytes(), "certificate.pdf", "The selected file is a PNG image but is named .pdf"),
    (PDF, "policy.docx", "The selected file is a PDF but is named .docx"),
    (docx_bytes(), "policy.zip", "The selected file is a Word document (DOCX) but is named .zip"),
    (PDF, "policy", "The selected file is a PDF but its name does not end in .pdf"),
    (JPEG, "scan", "does not end in .jpg or .jpeg"),
    (b"", "empty.pdf", "The selected file is empty"),
    (PDF, "", "Select a file"),
])
def test_refused_files_say_why(data, name, message):
    with pytest.raises(d.UploadRejected) as exc:
        check(data, name)
    assert message in str(exc.value)


def test_word_file_without_a_word_main_part_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", WORD_DOCUMENT)
    with pytest.raises(d.UploadRejected, match="not a Word document"):
        check(buf.getvalue(), "policy.docx")


class CountingStream(io.BytesIO):
    """Records how much is read: judging a file must not read all of it."""
    def __init__(self, data):
        super().__init__(data)
        self.largest_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.largest_read = max(self.largest_read, len(chunk))
        return chunk


def test_only_the_header_is_read_and_the_stream_is_rewound():
    stream = CountingStream(PDF + b"%" + b"x" * (d.HEADER_BYTES * 4))
    assert d.check_file(stream, "big.pdf").content_type == "application/pdf"
    assert stream.largest_read == d.HEADER_BYTES
    assert stream.tell() == 0


# --- names -------------------------------------------------------------------

@pytest.mark.parametrize("raw,clean", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\system.ini", "system.ini"),
    ("/var/tmp/Insurance 2026.pdf", "Insurance 2026.pdf"),
    ("bad\x00name\r\n.pdf", "badname.pdf"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # no right-to-left override tricks
    ("  lots   of   space .pdf ", "lots of space .pdf"),
    ("Certificat d’assurance é.pdf", "Certificat d’assurance é.pdf"),
    ("..", ""),
    ("", ""),
    (None, ""),
])
def test_filenames_are_sanitised(raw, clean):
    assert d.sanitise_filename(raw) == clean


def test_long_filenames_keep_their_extension():
    name = d.sanitise_filename("a" * 400 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")


def test_a_name_that_is_only_a_path_is_refused():
    with pytest.raises(d.UploadRejected, match="no usable name"):
        check(PDF, "../")


def test_content_disposition_has_ascii_and_utf8_names():
    header = d.content_disposition('Assurance "été" 2026.pdf')
    assert header.startswith('attachment; filename="Assurance _ete_ 2026.pdf"; ')
    assert header.endswith("filename*=UTF-8''Assurance%20%22%C3%A9t%C3%A9%22%202026.pdf")
    assert 'filename="document"' in d.content_disposition("日本")


# --- cover amounts and expiry ------------------------------------------------

@pytest.mark.parametrize("text,amount", [
    ("5,000,000", Decimal("5000000.00")),
    ("£2500000.5", Decimal("2500000.50")),
    (" 10 000 000 ", Decimal("10000000.00")),
])
def test_cover_amounts_are_pounds(text, amount):
    assert d.parse_cover_amount(text) == amount


@pytest.mark.parametrize("text,message", [
    ("", "Enter the cover amount"),
    ("five million", "Cover amount must be a number, like 5,000,000"),
    ("NaN", "Cover amount must be a number"),
    ("0", "Cover amount must be more than £0"),
    ("-5", "Cover amount must be more than £0"),
    ("1.005", "pounds and pence"),
    ("99999999999", "or less"),
])
def test_bad_cover_amounts_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        d.parse_cover_amount(text)


TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("expires_on,notice", [
    (None, None),
    (TODAY - timedelta(days=1), ("Expired", "red")),
    (TODAY, ("Expires today", "orange")),
    (TODAY + timedelta(days=1), ("Expires in 1 day", "yellow")),
    (TODAY + timedelta(days=60), ("Expires in 60 days", "yellow")),
    (TODAY + timedelta(days=61), None),
])
def test_expiry_notices(expires_on, notice):
    assert d.expiry_notice(expires_on, TODAY) == notice


# --- the library's view of versions -------------------------------------------

@dataclass
class Doc:
    kind: K
    status: S = S.AWAITING_CHECK
    setting_id: int | None = None
    uploaded_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1))
    id: int = 0


@dataclass
class Setting:
    id: int
    name: str


def _entry(entries, kind, setting_id=None):
    return next(e for e in entries if e.kind is kind
                and (e.setting.id if e.setting else None) == setting_id)


def test_library_shows_newest_unreplaced_version_and_counts_the_rest():
    old = Doc(K.PUBLIC_LIABILITY, S.SUPERSEDED, uploaded_at=datetime(2025, 1, 1), id=1)
    rejected = Doc(K.PUBLIC_LIABILITY, S.REJECTED, uploaded_at=datetime(2026, 2, 1), id=2)
    entries = d.library_entries([old, rejected], [])
    entry = _entry(entries, K.PUBLIC_LIABILITY)
    # A rejected document stays on show so the provider sees why, but does not count.
    assert entry.shown is rejected and entry.earlier == [old]
    assert not entry.satisfied and not entry.missing


def test_library_marks_what_the_minimum_criteria_need():
    oak = Setting(7, "Oak House")
    entries = d.library_entries([Doc(K.OFSTED_CERTIFICATE, setting_id=7, id=3)],
                                [oak, Setting(8, "Elm House")])
    assert _entry(entries, K.PUBLIC_LIABILITY).missing
    assert not _entry(entries, K.MOTOR_INSURANCE).missing  # optional
    assert _entry(entries, K.CREDIT_REPORT).requirement == "one_of"
    assert _entry(entries, K.OFSTED_CERTIFICATE, 7).satisfied
    assert _entry(entries, K.OFSTED_CERTIFICATE, 8).missing
    with_accounts = d.library_entries([Doc(K.ACCOUNTS, id=4)], [])
    assert not _entry(with_accounts, K.CREDIT_REPORT).missing


# --- storing ------------------------------------------------------------------

@pytest.fixture
def storage(tmp_path):
    from app.storage import LocalStorage
    return LocalStorage(str(tmp_path))


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_store_document_supersedes_the_previous_version(app_ctx, storage, tmp_path):
    from app.domain.audit import SYSTEM
    from app.extensions import db
    from app.models import AuditEvent
    from tests.factories import make_provider

    provider = make_provider()
    meta = d.Metadata(insurer="Aviva", policy_number="PL-1", cover_amount=Decimal("5000000"),
                      expires_on=date(2027, 3, 31))
    first = d.store_document(SYSTEM, storage, io.BytesIO(PDF), d.CheckedFile("a.pdf", d.PDF),
                             provider_id=provider.id, kind=K.PUBLIC_LIABILITY, setting_id=None,
                             uploaded_by_id=None, metadata=meta, max_bytes=1024)
    db.session.commit()
    second = d.store_document(SYSTEM, storage, io.BytesIO(PDF), d.CheckedFile("b.pdf", d.PDF),
                              provider_id=provider.id, kind=K.PUBLIC_LIABILITY, setting_id=None,
                              uploaded_by_id=None, metadata=meta, max_bytes=1024)
    db.session.commit()
    assert first.status is S.SUPERSEDED and second.status is S.AWAITING_CHECK
    assert first.storage_key.startswith(f"providers/{provider.id}/")
    assert storage.exists(first.storage_key) and storage.exists(second.storage_key)
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions == ["document.uploaded", "document.uploaded", "document.superseded"]


def test_store_document_over_the_limit_stores_nothing(app_ctx, storage, tmp_path):
    from app.domain.audit import SYSTEM
    from app.models import Document
    from tests.factories import make_provider

    provider = make_provider()
    with pytest.raises(d.UploadRejected, match="must be smaller than 1MB"):
        d.store_document(SYSTEM, storage, io.BytesIO(PDF + b"x" * (1024 * 1024)),
                         d.CheckedFile("a.pdf", d.PDF), provider_id=provider.id,
                         kind=K.ACCOUNTS, setting_id=None, uploaded_by_id=None,
                         metadata=d.Metadata(), max_bytes=1024 * 1024)
    assert _files(tmp_path) == set()
    assert Document.query.count() == 0
