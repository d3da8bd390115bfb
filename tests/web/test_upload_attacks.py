"""Hostile uploads: each is refused with a clear GOV.UK error, and nothing is
kept (no document row, no file in storage, not even a temporary one)."""
import io
import os
import socket
import struct
import threading
import zipfile
from pathlib import Path

import pytest

from app import antivirus
from app.domain import documents as d
from app.domain.reference import DocumentKind as K
from app.domain.states import Role
from app.extensions import db
from app.models import AuditEvent, Document
from tests.factories import login, make_provider, make_user
from tests.unit.test_documents import (CONTENT_TYPES, ELF, HTML, PDF, RELS, WORD_DOCUMENT,
                                       docx_bytes, png_bytes)

# A Windows executable: the DOS stub and a PE header, as libmagic knows them.
MZ = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8" + b"\x00" * 43
      + struct.pack("<I", 0x80) + b"\x00" * 64 + b"PE\x00\x00\x4c\x01\x03\x00" + b"\x00" * 200)
NOT_ALLOWED = "The selected file must be a PDF, Word document (DOCX), PNG or JPEG"


@pytest.fixture
def owner(client):
    user = make_user(Role.PROVIDER_USER, make_provider())
    login(client, user)
    return user


def stored_files(app) -> set[Path]:
    return {p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()}


def upload(client, data: bytes, name: str, kind: K = K.SAFEGUARDING_POLICY,
           content_type: str | None = None):
    file = (io.BytesIO(data), name, content_type) if content_type else (io.BytesIO(data), name)
    return client.post(f"/evidence/upload?kind={kind.value}", data={"file": file},
                       content_type="multipart/form-data")


def assert_refused(app, client, data, name, message, **kwargs):
    """Refused with the message in the error summary (linked to the file field)
    and beside the field; no row, no audit event, no file."""
    before = stored_files(app)
    documents_before = Document.query.count()
    uploads_before = AuditEvent.query.filter_by(action="document.uploaded").count()
    r = upload(client, data, name, **kwargs)
    html = r.data.decode()
    assert r.status_code == 400, html
    assert "There is a problem" in html and 'href="#file"' in html
    assert html.count(message) >= 2, f"{message!r} not in the summary and beside the field"
    db.session.expire_all()
    assert Document.query.count() == documents_before
    assert AuditEvent.query.filter_by(action="document.uploaded").count() == uploads_before
    assert stored_files(app) == before


def docx_with(parts: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", WORD_DOCUMENT)
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


# --- what the file is ----------------------------------------------------------

@pytest.mark.parametrize("data,name", [
    (ELF, "insurance.pdf"),
    (MZ, "insurance.pdf"),
    (MZ, "setup.docx"),
    (HTML, "insurance.pdf"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.png"),
], ids=["elf-as-pdf", "exe-as-pdf", "exe-as-docx", "html-as-pdf", "svg-as-png"])
def test_executables_and_web_pages_with_a_document_name_are_refused(app, client, owner, data,
                                                                    name):
    assert_refused(app, client, data, name, NOT_ALLOWED)


def test_the_browsers_content_type_is_not_believed(app, client, owner):
    assert_refused(app, client, HTML, "invoice.pdf", NOT_ALLOWED, content_type="application/pdf")
    # A real PDF said to be HTML is kept, as what it really is.
    assert upload(client, PDF, "policy.pdf", content_type="text/html").status_code == 303
    assert Document.query.one().content_type == "application/pdf"


@pytest.mark.parametrize("data,name,message", [
    (PDF, "policy.docx", "The selected file is a PDF but is named .docx"),
    (png_bytes(), "policy.pdf", "The selected file is a PNG image but is named .pdf"),
    (docx_bytes(), "policy.pdf", "The selected file is a Word document (DOCX) but is named .pdf"),
    (PDF, "policy.pdf.exe", "The selected file is a PDF but is named .exe"),
])
def test_a_name_that_does_not_match_the_content_is_refused(app, client, owner, data, name,
                                                           message):
    assert_refused(app, client, data, name, message)


def test_an_empty_file_is_refused(app, client, owner):
    assert_refused(app, client, b"", "policy.pdf", "The selected file is empty")


def test_a_file_over_the_limit_is_refused(app, client, owner, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 8 * 1024)
    assert_refused(app, client, PDF + b"%" * 16 * 1024, "policy.pdf",
                   "The selected file must be smaller than 8KB")


def test_a_request_over_the_limit_is_stopped_before_it_is_read(app, client, owner,
                                                               monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 16 * 1024)
    before = stored_files(app)
    r = upload(client, PDF + b"%" * 64 * 1024, "policy.pdf")
    assert r.status_code == 413 and "The file is too large" in r.data.decode()
    assert Document.query.count() == 0 and stored_files(app) == before


# --- zip bombs dressed as Word documents ----------------------------------------

def test_a_docx_that_expands_hugely_is_refused(app, client, owner):
    # 60MB of zeros compress to about 60KB: a thousand times.
    bomb = docx_with({"word/media/image1.bin": bytes(60 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    assert_refused(app, client, bomb, "policy.docx", "expands to far more than its size")


def test_a_docx_over_the_expanded_limit_is_refused_whatever_its_ratio(app, client, owner,
                                                                      monkeypatch):
    monkeypatch.setattr(d, "MAX_DOCX_EXPANDED_BYTES", 256 * 1024)
    stored = docx_with({"word/media/image1.png": os.urandom(300 * 1024)}, zipfile.ZIP_STORED)
    assert_refused(app, client, stored, "policy.docx", "expands to far more than its size")


def test_a_docx_with_thousands_of_parts_is_refused(app, client, owner):
    many = docx_with({f"word/part{n}.xml": b"" for n in range(d.MAX_DOCX_PARTS)})
    assert_refused(app, client, many, "policy.docx", "expands to far more than its size")


def test_a_docx_whose_directory_lies_about_sizes_is_refused(app, client, owner):
    # Declares 100 bytes for a part that expands to 2MB (a bomb hiding from
    # size checks): expanding stops at 100 bytes and the CRC gives it away.
    real = docx_with({"word/media/image1.bin": bytes(2 * 1024 * 1024)})
    buf = io.BytesIO(real)
    with zipfile.ZipFile(buf) as z:
        info = z.getinfo("word/media/image1.bin")
    lying = bytearray(real)
    entry = lying.find(b"PK\x01\x02")
    while lying[entry + 46:entry + 46 + len(info.filename)] != info.filename.encode():
        entry = lying.find(b"PK\x01\x02", entry + 4)  # the part's central directory entry
    lying[entry + 24:entry + 28] = struct.pack("<I", 100)  # its uncompressed size
    lying[info.header_offset + 22:info.header_offset + 26] = struct.pack("<I", 100)
    assert_refused(app, client, bytes(lying), "policy.docx", "not a Word document")


def test_a_real_docx_with_pictures_is_still_accepted(client, owner):
    doc = docx_with({"word/media/image1.png": os.urandom(512 * 1024)})
    assert upload(client, doc, "policy.docx").status_code == 303


# --- viruses ------------------------------------------------------------------

@pytest.mark.parametrize("data,name", [
    (antivirus.EICAR, "eicar.pdf"),
    (antivirus.EICAR + b"\n", "eicar.com"),
    # Inside a real PDF, past the part libmagic reads, so only a scan finds it.
    (PDF + b"%" + b"x" * (d.HEADER_BYTES + 10) + antivirus.EICAR + b"\n", "report.pdf"),
], ids=["eicar-as-pdf", "eicar-com", "eicar-inside-pdf"])
def test_the_eicar_test_file_is_refused_without_clamav(app, client, owner, data, name):
    assert isinstance(antivirus.get_scanner(), antivirus.EicarScanner)
    assert_refused(app, client, data, name, "The selected file contains a virus")


class FakeClamd:
    """clamd's INSTREAM protocol on a Unix socket: answers FOUND for EICAR."""

    def __init__(self, path: str):
        self.path = path
        self.received: list[bytes] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read(self, conn, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = conn.recv(n - len(data))
            if not part:
                raise ConnectionError
            data += part
        return data

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                assert self._read(conn, len(b"zINSTREAM\0")) == b"zINSTREAM\0"
                body = b""
                while size := struct.unpack("!L", self._read(conn, 4))[0]:
                    body += self._read(conn, size)
                self.received.append(body)
                found = antivirus.EICAR in body
                conn.sendall(b"stream: Eicar-Signature FOUND\0" if found else b"stream: OK\0")

    def close(self):
        self.server.close()


@pytest.fixture
def clamd(app, tmp_path, monkeypatch):
    path = str(tmp_path / "clamd.sock")
    server = FakeClamd(path)
    monkeypatch.setitem(app.config, "CLAMAV_SOCKET", path)
    monkeypatch.setitem(app.extensions, "virus_scanner", None)
    yield server
    server.close()


def test_with_clamav_configured_every_file_is_streamed_to_clamd(app, client, owner, clamd):
    big = PDF + b"%" + b"x" * (3 * antivirus.CHUNK)
    assert upload(client, big, "policy.pdf").status_code == 303
    assert isinstance(app.extensions["virus_scanner"], antivirus.ClamdScanner)
    assert clamd.received == [big]
    assert_refused(app, client, antivirus.EICAR, "eicar.pdf", "The selected file contains a virus")


def test_when_clamav_cannot_be_reached_uploads_are_refused(app, client, owner, tmp_path,
                                                           monkeypatch):
    monkeypatch.setitem(app.extensions, "virus_scanner",
                        antivirus.ClamdScanner(socket_path=str(tmp_path / "nobody-here.sock")))
    assert_refused(app, client, PDF, "policy.pdf",
                   "The selected file could not be checked for viruses. Try again later")


@pytest.mark.skipif(not (os.environ.get("CLAMAV_SOCKET") or os.environ.get("CLAMAV_HOST")),
                    reason="no ClamAV daemon configured (CLAMAV_SOCKET or CLAMAV_HOST)")
def test_a_real_clamav_daemon_refuses_eicar(app, client, owner, monkeypatch):
    monkeypatch.setitem(app.extensions, "virus_scanner", None)
    assert_refused(app, client, antivirus.EICAR, "eicar.pdf", "The selected file contains a virus")
    assert isinstance(app.extensions["virus_scanner"], antivirus.ClamdScanner)


# --- file names -----------------------------------------------------------------

# `kept`: how the kept name ends (the multipart parser itself drops the
# backslashes of a Windows path, before the portal sees the name).
@pytest.mark.parametrize("name,kept", [
    ("../../../../etc/cron.d/evil.pdf", "evil.pdf"),
    ("..\\..\\..\\Windows\\System32\\evil.pdf", "evil.pdf"),
    ("/etc/passwd.pdf", "passwd.pdf"),
    ("C:\\boot.pdf", "boot.pdf"),
    ("in\tvoice\x0b\x0c.pdf", "invoice.pdf"),
    ("policy\x1b[31m.pdf", "policy[31m.pdf"),
    ("%2e%2e%2fpolicy.pdf", "%2e%2e%2fpolicy.pdf"),  # kept as text, never decoded
], ids=["dotdot-slash", "dotdot-backslash", "absolute", "drive", "tabs", "ansi-escape",
        "url-encoded"])
def test_hostile_names_are_kept_only_as_clean_text(app, client, owner, name, kept):
    root = Path(app.config["STORAGE_DIR"]).resolve()
    outside_before = {p for p in root.parent.rglob("*") if root not in p.parents and p != root}
    assert upload(client, PDF, name).status_code == 303
    doc = Document.query.one()
    assert doc.original_filename.endswith(kept)
    assert "/" not in doc.original_filename and "\\" not in doc.original_filename
    # The file is stored under a generated key, inside the storage root.
    path = (root / doc.storage_key).resolve()
    assert root in path.parents and path.read_bytes() == PDF
    assert kept not in doc.storage_key
    outside_after = {p for p in root.parent.rglob("*") if root not in p.parents and p != root}
    assert outside_after == outside_before
    # Offered back on download as a quoted, harmless name.
    disposition = client.get(f"/evidence/{doc.id}/download").headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition


def test_a_line_break_in_the_name_cannot_add_headers(app, client, owner):
    # No browser sends one (they encode it); a hand-made request breaks its own
    # part, which then carries no file.
    before = stored_files(app)
    r = upload(client, PDF, "policy.pdf\r\nContent-Type: text/html\r\n\r\n<script>")
    assert r.status_code == 400 and "Select a file" in r.data.decode()
    assert Document.query.count() == 0 and stored_files(app) == before


@pytest.mark.parametrize("name", ["..", "../", "\x01\x02\x03", "\u202e\u200b"],
                         ids=["dotdot", "dotdot-slash", "controls", "format-chars"])
def test_a_name_with_nothing_usable_is_refused(app, client, owner, name):
    assert_refused(app, client, PDF, name,
                   "The selected file has no usable name: rename it and select it again")


def test_a_right_to_left_override_cannot_disguise_the_extension(app, client, owner):
    # Shown as "invoiceexe.pdf" by a browser that honours U+202E; it ends in .exe.
    assert_refused(app, client, PDF, "invoice\u202efdp.exe",
                   "The selected file is a PDF but is named .exe")
