"""Storage fails while a provider uploads evidence: a clear GOV.UK error page
(503, "Your file was not uploaded"), and nothing half-written is kept: no
document row, no audit event, no file or object that anyone can see.

Local storage: the disk fills up part-way through the file. S3: the
connection to an S3-compatible server (moto_server) is cut after the first
part of a multipart upload has gone up, through a TCP proxy the test controls,
so the bucket can still be inspected afterwards.
"""
import errno
import io
import os
import socket
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import app.storage as storage_module
from app import create_app
from app.domain.reference import DocumentKind as K
from app.domain.states import Role
from app.extensions import db
from app.models import AuditEvent, Document
from app.storage import S3Storage
from config import TestConfig
from tests.factories import login, make_provider, make_user
from tests.integration.conftest import (S3_BUCKET, S3_REGION, database_url, delete_all_rows,
                                        dispose, migrate)
from tests.unit.test_documents import PDF

MiB = 1024 * 1024
NOT_UPLOADED = "Your file was not uploaded and nothing was saved. Try again later."


def upload(client, data: bytes, name: str = "Accounts 2025.pdf"):
    return client.post(f"/evidence/upload?kind={K.ACCOUNTS.value}",
                       data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def nothing_recorded() -> bool:
    db.session.expire_all()
    documents = db.session.execute(sa.select(sa.func.count()).select_from(Document)).scalar()
    uploads = db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "document.uploaded")).scalar()
    return documents == 0 and uploads == 0


def signed_in_provider(app):
    client = app.test_client()
    login(client, make_user(Role.PROVIDER_USER, make_provider()))
    return client


def assert_clear_error(r) -> None:
    assert r.status_code == 503
    page = r.get_data(as_text=True)
    assert "Sorry, there is a problem with the service" in page and NOT_UPLOADED in page
    assert "Traceback" not in page


# --- local disk ------------------------------------------------------------------------

class _FillingDisk:
    """A file that accepts `room` bytes, then fails as a full disk does."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


class _OsWithAFullDisk:
    """The os module as app.storage sees it, with files that fill the disk."""

    def __init__(self, room: int):
        self.room = room

    def fdopen(self, fd, mode="r", *args):
        return _FillingDisk(os.fdopen(fd, mode, *args), self.room)

    def __getattr__(self, name):
        return getattr(os, name)


def test_a_full_disk_mid_upload_leaves_nothing_behind(app_ctx, monkeypatch):
    client = signed_in_provider(app_ctx)
    root = Path(app_ctx.config["STORAGE_DIR"])
    before = {p for p in root.rglob("*") if p.is_file()}
    data = PDF + b"%" + b"0" * (2 * MiB)
    monkeypatch.setattr(storage_module, "os", _OsWithAFullDisk(room=MiB))

    assert_clear_error(upload(client, data))
    assert nothing_recorded()
    # Not even the temporary file the upload was being written to.
    assert {p for p in root.rglob("*") if p.is_file()} == before

    # Room again: the same upload goes through.
    monkeypatch.undo()
    r = upload(client, data)
    assert r.status_code == 303
    [document] = db.session.execute(sa.select(Document)).scalars().all()
    assert document.size_bytes == len(data)


def test_an_htmx_upload_that_fails_reloads_the_page_with_the_message(app_ctx, monkeypatch):
    client = signed_in_provider(app_ctx)
    monkeypatch.setattr(storage_module, "os", _OsWithAFullDisk(room=0))
    r = client.post(f"/evidence/upload?kind={K.ACCOUNTS.value}",
                    data={"file": (io.BytesIO(PDF), "Accounts.pdf")},
                    content_type="multipart/form-data", headers={"HX-Request": "true"})
    assert r.status_code == 503 and r.headers["HX-Refresh"] == "true"
    monkeypatch.undo()
    page = client.get(f"/evidence/upload?kind={K.ACCOUNTS.value}").get_data(as_text=True)
    assert NOT_UPLOADED in page
    assert nothing_recorded()


# --- S3, with the connection cut part-way ------------------------------------------------

class CuttableProxy:
    """A TCP proxy in front of the S3 server; `cut()` drops every connection
    and refuses new ones, as a network failure would."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.listener.close()
        with self.lock:
            for s in self.connections:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def s3_fault_app(tmp_path_factory, s3_endpoint):
    proxy = CuttableProxy(int(s3_endpoint.rsplit(":", 1)[1]))
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = database_url(tmp_path_factory, "s3faults")
    config.STORAGE_BACKEND = "s3"
    config.S3_BUCKET = S3_BUCKET
    config.S3_ENDPOINT_URL = f"http://127.0.0.1:{proxy.port}"
    config.S3_REGION = S3_REGION
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("unused-local-storage"))
    app = create_app(config)
    migrate(app)
    with app.app_context():
        yield app, proxy
    proxy.cut()
    delete_all_rows(app)
    dispose(app)


def test_s3_unreachable_after_the_first_part_leaves_no_object(s3_fault_app, s3_client,
                                                              monkeypatch):
    app, proxy = s3_fault_app
    storage = app.extensions["storage"]
    assert isinstance(storage, S3Storage)
    keys_before = {o["Key"] for o in
                   s3_client.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])}
    uploads_before = {u["UploadId"] for u in
                      s3_client.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", [])}

    real_upload_part = storage.client.upload_part

    def first_part_then_the_network_fails(**kwargs):
        response = real_upload_part(**kwargs)
        proxy.cut()
        return response
    monkeypatch.setattr(storage.client, "upload_part", first_part_then_the_network_fails)

    client = signed_in_provider(app)
    # Two parts: 8 MiB, then the rest, which never arrives.
    assert_clear_error(upload(client, PDF + b"%" + b"0" * (9 * MiB)))
    assert nothing_recorded()

    # Seen directly (not through the cut proxy): no object was created. The
    # incomplete multipart upload, which nobody can read, could not be aborted
    # while S3 was unreachable; the bucket's lifecycle rule removes those.
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])}
    assert keys == keys_before
    left = [u for u in s3_client.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", [])
            if u["UploadId"] not in uploads_before]
    assert len(left) == 1 and left[0]["Key"].startswith("providers/")
    s3_client.abort_multipart_upload(Bucket=S3_BUCKET, Key=left[0]["Key"],
                                     UploadId=left[0]["UploadId"])
