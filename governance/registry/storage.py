"""Immutable, content-addressed storage for artifacts and datasets under MEDIA_ROOT.

A blob lives at ``<kind>/<sha256[:2]>/<sha256><suffix>`` and is written once: a second upload
of the same bytes finds it already there and leaves it alone.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from .intake import IntakeError

CHUNK = 1024 * 1024
#: what os.link raises on a file system that has no hard links
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def blob_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


@contextmanager
def spooled_upload(upload: UploadedFile, *, max_bytes: int, field: str):
    """Copy an upload to a private temporary file, refusing it past max_bytes (413)."""
    if upload.size is not None and upload.size > max_bytes:
        raise IntakeError(
            f"The file is {upload.size:,} bytes; the limit is {max_bytes:,} bytes.",
            code="too_large",
            status=413,
            field=field,
        )
    fd, name = tempfile.mkstemp(prefix="upload-", dir=_tmp_dir())
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise IntakeError(
                        f"The file is larger than the limit of {max_bytes:,} bytes.",
                        code="too_large",
                        status=413,
                        field=field,
                    )
                out.write(chunk)
        yield Path(name)
    finally:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def write_once(target: Path, content: Path | bytes) -> None:
    """Publish ``content`` (a file's bytes, or bytes) at ``target``, read-only, unless a file is there.

    The bytes go to a temporary file beside the target, which is made read-only and then linked
    to the target's name: readers never see a half-written file, and ``os.link`` never replaces
    a file already there, so concurrent writers cannot swap the file under a recorded digest.
    On a file system without hard links (some object-store mounts) the file is renamed into
    place instead, still atomically: a blob's name is its own digest, and a typed copy's digest
    is checked on every read.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(content, bytes):
                out.write(content)
            else:
                with open(content, "rb") as source:
                    shutil.copyfileobj(source, out, CHUNK)
        os.chmod(tmp_name, 0o444)
        try:
            os.link(tmp_name, target)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            os.replace(tmp_name, target)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)


def store_blob(source: Path, *, kind: str, sha256: str, suffix: str) -> str:
    """Place a file under its hash; return the path relative to MEDIA_ROOT."""
    relative = f"{kind}/{sha256[:2]}/{sha256}{suffix}"
    write_once(blob_path(relative), source)
    return relative


def verify_blob(relative: str, sha256: str) -> bool:
    digest = hashlib.sha256()
    with open(blob_path(relative), "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _tmp_dir() -> str:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
