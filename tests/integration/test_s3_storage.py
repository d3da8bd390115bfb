"""S3 document storage against a real S3-compatible server (moto_server)."""
import hashlib
import io
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from app import create_app
from app.domain.reference import DocumentKind as K
from app.domain.states import Role
from app.extensions import db
from app.models import Document
from app.storage import S3_PART_SIZE, S3Storage, UploadTooLarge, new_key
from config import TestConfig
from tests.factories import login, make_provider, make_user
from tests.integration.conftest import (S3_BUCKET, S3_REGION, database_url, delete_all_rows,
                                        dispose, migrate)
from tests.unit.test_documents import PDF

MiB = 1024 * 1024


@pytest.fixture
def storage(s3_endpoint) -> S3Storage:
    return S3Storage(S3_BUCKET, endpoint_url=s3_endpoint, region=S3_REGION)


def bucket_keys(s3_client) -> set[str]:
    listing = s3_client.list_objects_v2(Bucket=S3_BUCKET)
    return {o["Key"] for o in listing.get("Contents", [])}


def open_uploads(s3_client) -> list:
    return s3_client.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", [])


class BrokenStream(io.BytesIO):
    """A client that goes away after sending `fail_after` bytes."""

    def __init__(self, data: bytes, fail_after: int):
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.tell() >= self.fail_after:
            raise OSError("client disconnected")
        return super().read(size)


# --- the storage interface ---------------------------------------------------------

def test_small_file_is_saved_encrypted_read_back_and_deleted(storage, s3_client):
    key = new_key("providers/1")
    stored = storage.save(key, io.BytesIO(PDF), max_bytes=MiB)
    assert (stored.key, stored.size, stored.sha256) == (key, len(PDF),
                                                        hashlib.sha256(PDF).hexdigest())
    head = s3_client.head_object(Bucket=S3_BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(PDF)
    assert storage.exists(key)
    assert b"".join(storage.open_chunks(key)) == PDF

    storage.delete(key)
    assert not storage.exists(key)
    assert key not in bucket_keys(s3_client)
    storage.delete(key)  # deleting again is not an error


def test_missing_object_does_not_exist_and_fails_before_streaming(storage):
    key = new_key("providers/1")
    assert not storage.exists(key)
    with pytest.raises(ClientError):
        storage.open_chunks(key)


def test_large_file_goes_up_in_parts_and_streams_back_in_chunks(storage, s3_client):
    data = os.urandom(12 * MiB + 12345)
    key = new_key("providers/1")
    stored = storage.save(key, io.BytesIO(data), max_bytes=20 * MiB)
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket=S3_BUCKET, Key=key)
    # A multipart object's ETag ends in the number of parts: 8 MiB, then the rest.
    assert head["ETag"].strip('"').endswith("-2")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(data)
    assert open_uploads(s3_client) == []

    chunks = list(storage.open_chunks(key))
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 64 * 1024
    assert b"".join(chunks) == data
    storage.delete(key)


def test_too_large_upload_aborts_the_multipart_upload(storage, s3_client):
    key = new_key("providers/1")
    # Over the limit only after the first 8 MiB part has gone up.
    with pytest.raises(UploadTooLarge):
        storage.save(key, io.BytesIO(os.urandom(12 * MiB)), max_bytes=S3_PART_SIZE + 2 * MiB)
    assert open_uploads(s3_client) == []
    assert not storage.exists(key)
    assert key not in bucket_keys(s3_client)


def test_too_large_small_upload_stores_nothing(storage, s3_client):
    key = new_key("providers/1")
    with pytest.raises(UploadTooLarge):
        storage.save(key, io.BytesIO(b"x" * 2000), max_bytes=1000)
    assert not storage.exists(key) and open_uploads(s3_client) == []


def test_a_broken_upload_stream_leaves_nothing_behind(storage, s3_client):
    key = new_key("providers/1")
    with pytest.raises(OSError, match="client disconnected"):
        storage.save(key, BrokenStream(os.urandom(10 * MiB), fail_after=9 * MiB),
                     max_bytes=20 * MiB)
    assert open_uploads(s3_client) == []
    assert not storage.exists(key)


def test_parts_smaller_than_s3_allows_are_refused(s3_endpoint):
    with pytest.raises(ValueError, match="5 MiB"):
        S3Storage(S3_BUCKET, endpoint_url=s3_endpoint, region=S3_REGION, part_size=MiB)


def test_s3_backend_needs_a_bucket(tmp_path):
    config = TestConfig()
    config.STORAGE_BACKEND = "s3"
    config.S3_BUCKET = None
    config.STORAGE_DIR = str(tmp_path)
    with pytest.raises(RuntimeError, match="S3_BUCKET"):
        create_app(config)


# --- the evidence library with STORAGE_BACKEND=s3 ---------------------------------------

@pytest.fixture(scope="module")
def s3_app(tmp_path_factory, s3_endpoint):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = database_url(tmp_path_factory, "s3")
    config.STORAGE_BACKEND = "s3"
    config.S3_BUCKET = S3_BUCKET
    config.S3_ENDPOINT_URL = s3_endpoint
    config.S3_REGION = S3_REGION
    # Local storage must not be used: point it somewhere that stays empty.
    config.STORAGE_DIR = str(tmp_path_factory.mktemp("unused-local-storage"))
    app = create_app(config)
    migrate(app)
    yield app
    dispose(app)


@pytest.fixture
def s3_ctx(s3_app):
    with s3_app.app_context():
        yield s3_app
    delete_all_rows(s3_app)


def _upload(client, data: bytes, name: str):
    return client.post(f"/evidence/upload?kind={K.ACCOUNTS.value}",
                       data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("size", ["tiny", "multipart"])
def test_evidence_upload_and_download_through_s3(s3_ctx, s3_client, size):
    app = s3_ctx
    assert isinstance(app.extensions["storage"], S3Storage)
    # A PDF header with padding after it still reads as a PDF, and at 9 MiB it
    # takes the multipart path through the real view.
    data = PDF if size == "tiny" else PDF + b"%" + b"0" * (9 * MiB)
    provider = make_provider()
    owner = app.test_client()
    login(owner, make_user(Role.PROVIDER_USER, provider))

    r = _upload(owner, data, "Accounts 2025.pdf")
    assert r.status_code == 303 and r.headers["Location"] == "/evidence/"
    doc = db.session.execute(db.select(Document)).scalar_one()
    assert doc.size_bytes == len(data) and doc.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket=S3_BUCKET, Key=doc.storage_key)
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2") == (size == "multipart")
    assert open_uploads(s3_client) == []
    assert not any(p.is_file() for p in Path(app.config["STORAGE_DIR"]).rglob("*"))

    for user in (None, make_user(Role.EVALUATOR)):
        client = owner
        if user is not None:
            client = app.test_client()
            login(client, user)
        r = client.get(f"/evidence/{doc.id}/download")
        assert r.status_code == 200 and r.data == data
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.headers["Content-Length"] == str(len(data))
        assert r.headers["Content-Disposition"].startswith(
            'attachment; filename="Accounts 2025.pdf"')
        assert r.headers["Cache-Control"] == "private, no-store"
    # A HEAD request never reads the body; its S3 connection is closed all the same.
    r = owner.head(f"/evidence/{doc.id}/download")
    assert r.status_code == 200 and r.data == b""

    # A file gone from the bucket is a 404 for the user, not a broken download.
    s3_client.delete_object(Bucket=S3_BUCKET, Key=doc.storage_key)
    assert owner.get(f"/evidence/{doc.id}/download").status_code == 404
