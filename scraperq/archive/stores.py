"""Where archives go: a folder (``file:///path``) or a bucket (``s3://bucket/prefix``).

Both stores put an object whole or not at all (a folder writes a temporary file,
syncs it and renames it; S3 PUTs are atomic), so a reader never sees half an
object. S3 credentials come from the standard AWS environment variables (or
boto3's other usual places); ``SCRAPERQ_ARCHIVE_ENDPOINT_URL`` (or boto3's own
``AWS_ENDPOINT_URL``) points at MinIO or another S3-compatible server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from scraperq.errors import BadInput, ConfigError, ScraperqError
from scraperq.storage.connection import redact_url


class ArchiveUnavailable(ScraperqError):
    """The archive could not be written or read: nothing that depends on it is deleted."""


class ArchiveStore(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str = "") -> list[str]: ...


class FolderStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = self.root.as_uri() if self.root.is_absolute() else str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ArchiveUnavailable(f"cannot write the archive to {self.root}: {exc.strerror or exc}") from None

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # nothing there (yet): writing will say why not
            return None
        except OSError as exc:
            raise ArchiveUnavailable(f"cannot read the archive in {self.root}: {exc.strerror or exc}") from None

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)


class S3Store:
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigError("an s3:// archive needs boto3: pip install boto3") from None
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
        self._client = boto3.client("s3", endpoint_url=endpoint_url or None, config=config)

    def _call(self, what: str, call: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ArchiveUnavailable(f"cannot {what} the archive at {self.url}: {exc}") from None
        except BotoCoreError as exc:
            raise ArchiveUnavailable(f"cannot {what} the archive at {redact_url(self.url)}: {exc}") from None

    def put(self, key: str, data: bytes) -> None:
        self._call("write", self._client.put_object, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes | None:
        answer = self._call("read", self._client.get_object, Key=self.prefix + key)
        if answer is None:
            return None
        from botocore.exceptions import BotoCoreError

        try:
            return answer["Body"].read()
        except (BotoCoreError, OSError) as exc:
            raise ArchiveUnavailable(f"cannot read the archive at {self.url}: {exc}") from None

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list", self._client.list_objects_v2, Prefix=self.prefix + prefix, **extra)
            if page is None:
                return found
            found.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return sorted(found)
            token = page.get("NextContinuationToken")


def open_store(url: str, *, endpoint_url: str | None = None) -> ArchiveStore:
    """The store ``url`` names: ``file:///path``, a plain folder path, or ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise BadInput(f"archive URL {url!r} names no bucket: use s3://bucket/prefix")
        return S3Store(parts.netloc, unquote(parts.path), endpoint_url=endpoint_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BadInput(f"archive URL {url!r}: a file:// URL names a local folder, file:///path")
        return FolderStore(unquote(parts.path))
    if parts.scheme == "":
        return FolderStore(url)
    raise BadInput(f"archive URL {redact_url(url)!r} must start with file:// or s3://")
