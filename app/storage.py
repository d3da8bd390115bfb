"""Document storage behind one interface: local disk by default, or an
S3-compatible bucket in production (STORAGE_BACKEND=s3).

Uploads are copied in chunks (never read whole) and hashed on the way. A
failed or rejected upload never leaves a half-stored object: on disk the file
is written to a temporary name and renamed into place only when complete; in
S3 a large file goes up as a multipart upload that is completed only at the
end and aborted on any error.
"""
import hashlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Protocol

from flask import Flask, current_app

CHUNK = 64 * 1024
# S3 needs every part but the last to be at least 5 MiB; 8 MiB keeps a 20 MB
# upload to three parts while holding at most one part in memory.
S3_PART_SIZE = 8 * 1024 * 1024
S3_MIN_PART_SIZE = 5 * 1024 * 1024
# What complete_multipart_upload accepts back from each upload_part response.
_PART_CHECKSUMS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1",
                   "ChecksumSHA256")

log = logging.getLogger(__name__)


class UploadTooLarge(Exception):
    pass


@dataclass
class StoredObject:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> StoredObject: ...
    def open_chunks(self, key: str) -> Iterable[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def new_key(prefix: str) -> str:
    """Generated name; the original filename is metadata only."""
    return f"{prefix}/{secrets.token_hex(16)}"


class LocalStorage:
    def __init__(self, root: str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage root")
        return path

    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge()
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open_chunks(self, key: str) -> Iterator[bytes]:
        with open(self._path(key), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Objects in one S3 (or S3-compatible: MinIO, Ceph...) bucket.

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, a profile, or the instance/task role), never from
    the app's config.
    """

    def __init__(self, bucket: str, client=None, *, endpoint_url: str | None = None,
                 region: str | None = None, server_side_encryption: str | None = "AES256",
                 part_size: int = S3_PART_SIZE):
        if part_size < S3_MIN_PART_SIZE:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.bucket = bucket
        self.part_size = part_size
        self.client = client or make_s3_client(endpoint_url=endpoint_url, region=region)
        self._encryption = ({"ServerSideEncryption": server_side_encryption}
                            if server_side_encryption else {})
        # Like boto3's own upload_fileobj: per-part CRC32 checksums unless the
        # client is told to send checksums only when required (some older
        # S3-compatible servers reject them: AWS_REQUEST_CHECKSUM_CALCULATION).
        checksums = getattr(self.client.meta.config, "request_checksum_calculation",
                            "when_supported")
        self._checksum = ({"ChecksumAlgorithm": "CRC32"} if checksums == "when_supported"
                          else {})

    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> StoredObject:
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_id = None
        parts: list[dict] = []
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge()
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=key, **self._encryption,
                            **self._checksum)["UploadId"]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
            if upload_id is None:
                # Smaller than one part: a single request stores it whole or not at all.
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer),
                                       **self._encryption)
            else:
                if buffer:
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts})
        except BaseException:
            if upload_id is not None:
                self._abort(key, upload_id)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytearray) -> dict:
        response = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                           PartNumber=number, Body=bytes(data), **self._checksum)
        part = {"PartNumber": number, "ETag": response["ETag"]}
        # An upload created with a checksum algorithm must list each part's checksum.
        part.update({k: response[k] for k in _PART_CHECKSUMS if k in response})
        return part

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:
            # Keep the original error; the bucket's lifecycle rule for incomplete
            # multipart uploads removes what is left.
            log.exception("storage: could not abort the multipart upload of %s", key)

    def open_chunks(self, key: str) -> Iterable[bytes]:
        # Fetch now, not on the first iteration, so a missing object fails before
        # a response has started.
        return _Body(self.client.get_object(Bucket=self.bucket, Key=key)["Body"])

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


class _Body:
    """An S3 object's bytes in chunks. The WSGI server calls close() after the
    response, even one it never iterated (a HEAD request), which frees the
    connection to S3."""

    def __init__(self, body):
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body.iter_chunks(CHUNK)
        finally:
            self._body.close()

    def close(self) -> None:
        self._body.close()


def make_s3_client(*, endpoint_url: str | None = None, region: str | None = None):
    import boto3
    from botocore.config import Config as BotoConfig
    options = dict(connect_timeout=5, read_timeout=60,
                   retries={"max_attempts": 3, "mode": "standard"})
    if endpoint_url:
        # MinIO and most S3-compatible servers serve buckets by path, not by
        # bucket.host names.
        options["s3"] = {"addressing_style": "path"}
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                        config=BotoConfig(**options))


def init_app(app: Flask) -> None:
    backend = app.config["STORAGE_BACKEND"]
    if backend == "local":
        app.extensions["storage"] = LocalStorage(app.config["STORAGE_DIR"])
    elif backend == "s3":
        if not app.config.get("S3_BUCKET"):
            raise RuntimeError("S3_BUCKET must be set when STORAGE_BACKEND=s3")
        app.extensions["storage"] = S3Storage(
            app.config["S3_BUCKET"], endpoint_url=app.config.get("S3_ENDPOINT_URL"),
            region=app.config.get("S3_REGION"),
            server_side_encryption=app.config.get("S3_SERVER_SIDE_ENCRYPTION"))
    else:
        raise RuntimeError(f"Unknown STORAGE_BACKEND {backend!r}; use local or s3")


def get_storage() -> Storage:
    return current_app.extensions["storage"]
