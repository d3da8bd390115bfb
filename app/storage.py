"""Document storage behind one interface: local disk by default.

Uploads are copied in chunks (never read whole), hashed on the way, written to
a temporary name and renamed into place only when complete, so a failed or
rejected upload never leaves a half-stored file.
"""
import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from flask import Flask, current_app

CHUNK = 64 * 1024


class UploadTooLarge(Exception):
    pass


@dataclass
class StoredObject:
    key: str
    size: int
    sha256: str


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


def init_app(app: Flask) -> None:
    backend = app.config["STORAGE_BACKEND"]
    if backend == "local":
        app.extensions["storage"] = LocalStorage(app.config["STORAGE_DIR"])
    else:
        raise RuntimeError(f"Unknown STORAGE_BACKEND {backend!r}")


def get_storage() -> LocalStorage:
    return current_app.extensions["storage"]
