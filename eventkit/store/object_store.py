"""A :class:`~eventkit.store.file_store.FileStore` on S3-compatible object storage (AWS S3, MinIO, R2, ...).

Write once. A file is produced locally, then uploaded with a conditional PUT (``If-None-Match: *``):
the bucket refuses it when the name is taken, so two writers can never replace each other's file,
and an object appears whole or not at all. Callers record a file in the catalog only after its
upload returned (see :mod:`eventkit.store.segment_files`), and readers take the file list from the
catalog snapshot, never from listing the bucket; replaced files are deleted after the grace period
like local ones.

Reads. :meth:`S3Files.url` gives a **local copy** of the object, downloaded once into a cache
folder (``cache_dir``) and reused: objects are immutable, so a cached copy is never stale. DuckDB,
pyarrow and pandas then read plain local Parquet files — no DuckDB extension needed (``httpfs``
cannot always be installed), and repeated folds read local disk. Each host keeps its own cache.

Requires ``boto3`` (``pip install 'eventkit[s3]'``).

Example:
    >>> files = S3Files("my-bucket", "stores/bank", endpoint_url="http://127.0.0.1:9000",
    ...                 cache_dir="/tmp/ek-cache")                      # doctest: +SKIP
    >>> files.write_once("segments/x.parquet", lambda local: table_to_parquet(local))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from eventkit.common.errors import StoreError
from eventkit.store.file_store import StoredFile

_PRECONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")
_MISSING = ("NoSuchKey", "404", "NotFound")


class S3Files:
    """Write-once files under ``s3://<bucket>/<prefix>/``, read through a local cache.

    Args:
        bucket: The bucket (it must exist).
        prefix: The store's folder in the bucket (``""``: the bucket's root).
        cache_dir: Where downloaded copies are kept (default: a folder under the system's temp).
        endpoint_url: The S3 endpoint of MinIO, R2, a local test server ... (None: AWS S3).
        client: A ready boto3 S3 client (then ``endpoint_url`` and ``client_options`` are unused).
        **client_options: Passed to ``boto3.client("s3", ...)``: ``region_name``,
            ``aws_access_key_id``, ``aws_secret_access_key``, ... (default: boto3's usual
            environment variables and config files).

    Raises:
        StoreError: boto3 is not installed.
    """

    def __init__(self, bucket: str, prefix: str = "", *, cache_dir: str | os.PathLike | None = None,
                 endpoint_url: str | None = None, client: Any = None, **client_options: Any) -> None:
        self._options = dict(client_options, endpoint_url=endpoint_url)
        self.client = client if client is not None else _client(self._options)
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        where = f"{bucket}/{self.prefix}".replace("/", "_")
        default = Path(tempfile.gettempdir()) / "eventkit-s3-cache" / where
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default

    def __getstate__(self) -> dict[str, Any]:
        # A boto3 client does not pickle; a Dask worker makes its own from the same options.
        return {k: v for k, v in self.__dict__.items() if k != "client"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.client = _client(self._options)

    def __repr__(self) -> str:
        return f"S3Files('s3://{self.bucket}/{self.prefix}')"

    # -- names ---------------------------------------------------------------------------------
    def _key(self, path: str) -> str:
        parts = PurePosixPath(path).parts
        if not path or path.startswith("/") or ".." in parts or "\\" in path:
            raise StoreError(f"file store paths are relative and stay inside the store: {path!r}")
        return f"{self.prefix}/{path}" if self.prefix else path

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def object_url(self, path: str) -> str:
        """The object's ``s3://`` URL (for tools that read the bucket themselves, e.g. DuckDB httpfs)."""
        return f"s3://{self.bucket}/{self._key(path)}"

    # -- the FileStore interface -----------------------------------------------------------------
    def url(self, path: str) -> str:
        """A local copy of the object (downloaded on first use); its cache path even if missing."""
        local = self.cache_dir / self._key(path)
        if local.is_file():
            return str(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{local.name}")
        try:
            self.client.download_file(self.bucket, self._key(path), str(tmp))
            os.replace(tmp, local)  # whole or not at all, also against a concurrent download
        except Exception as e:  # noqa: BLE001 - botocore's errors: a missing object reads as a missing file
            if not _is(e, _MISSING):
                raise StoreError(f"cannot download {self.object_url(path)}: {e}") from e
        finally:
            tmp.unlink(missing_ok=True)
        return str(local)

    def write_once(self, path: str, write: Callable[[str], None], *, fsync: bool = False) -> StoredFile:
        """Produce the file locally with ``write``, then upload it if (and only if) the name is free.

        ``fsync`` is accepted for the interface: a PUT that returned is durable in the bucket.
        """
        key = self._key(path)
        local = self.cache_dir / key
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{local.name}")
        try:
            write(str(tmp))
            size = tmp.stat().st_size
            with open(tmp, "rb") as body:
                try:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
                except Exception as e:  # noqa: BLE001
                    if _is(e, _PRECONDITION_FAILED):
                        raise StoreError(f"{path} exists in the store; files are written once") from None
                    raise StoreError(f"cannot upload {self.object_url(path)}: {e}") from e
            os.replace(tmp, local)  # the uploaded bytes are this host's cached copy
        finally:
            tmp.unlink(missing_ok=True)
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        return StoredFile(path, size, head["LastModified"].timestamp())

    def replace(self, path: str, data: bytes, *, fsync: bool = False) -> StoredFile:
        """Write ``path`` whole, replacing any object there (a PUT is atomic: old bytes or new).

        For small files derived from the catalog (the segment manifest), which are read with
        :meth:`read_bytes`, never through the cache.
        """
        key = self._key(path)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as e:  # noqa: BLE001
            raise StoreError(f"cannot upload {self.object_url(path)}: {e}") from e
        (self.cache_dir / key).unlink(missing_ok=True)
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        return StoredFile(path, len(data), head["LastModified"].timestamp())

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except Exception as e:  # noqa: BLE001
            if _is(e, _MISSING):
                raise FileNotFoundError(self.object_url(path)) from None
            raise

    def exists(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except Exception as e:  # noqa: BLE001
            if _is(e, _MISSING):
                return False
            raise
        return True

    def listing(self, prefix: str, *, suffix: str = "") -> list[StoredFile]:
        folder = self._key(prefix).rstrip("/") + "/"
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffix):
                    out.append(StoredFile(self._relative(obj["Key"]), int(obj["Size"]),
                                          obj["LastModified"].timestamp()))
        return sorted(out, key=lambda f: f.path)

    def delete(self, path: str) -> bool:
        existed = self.exists(path)
        if existed:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(path))
        (self.cache_dir / self._key(path)).unlink(missing_ok=True)
        return existed

    def clear_cache(self) -> None:
        """Remove this host's downloaded copies (they are fetched again when read)."""
        shutil.rmtree(self.cache_dir, ignore_errors=True)


def _client(options: dict[str, Any]) -> Any:
    try:
        import boto3
    except ImportError:
        raise StoreError("object storage needs boto3: pip install 'eventkit[s3]'") from None
    return boto3.client("s3", **options)


def choose_file_store(location: str | os.PathLike, files: Any) -> Any:
    """The store's file store: its local folder (``files=None``), an ``s3://bucket/prefix`` URL
    (objects, with the local copies cached under the folder), or a ready :class:`FileStore`."""
    from eventkit.store.file_store import FileStore, open_file_store

    if files is None:
        return open_file_store(location)
    if isinstance(files, str):
        return open_object_store(files, cache_dir=Path(location) / "object-cache")
    if not isinstance(files, FileStore):
        raise StoreError(f"files= takes an s3://bucket/prefix URL or a FileStore, not {type(files).__name__}")
    return files


def open_object_store(url: str, *, cache_dir: str | os.PathLike) -> S3Files:
    """The file store for ``s3://bucket/prefix``; endpoint and credentials from boto3's usual
    settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``~/.aws/config``, ...)."""
    if not url.startswith("s3://") or len(url) <= 5:
        raise StoreError(f"an object store location is s3://bucket/prefix, not {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    return S3Files(bucket, prefix, cache_dir=cache_dir)


def _is(error: BaseException, codes: tuple[str, ...]) -> bool:
    """Whether a botocore ClientError carries one of ``codes`` (error code or HTTP status)."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code in codes or status in codes
