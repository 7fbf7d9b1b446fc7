"""The file store seam: where a store's data files (segments, fold states, projections) are written once,
listed, read and deleted.

:class:`FileStore` is the interface the store layer uses; :class:`LocalFolder` (the store's own folder) is
the one implementation today. Object storage (S3-compatible, a conditional PUT for write-once) is meant
to be a second implementation that passes the same contract (``tests/test_file_store_contract.py``)
without changes above this module. Paths are relative, ``/``-separated, and never leave the store.

May use :mod:`eventkit.common` only.
"""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from eventkit.common.errors import StoreError


@dataclass(frozen=True)
class StoredFile:
    """One file in a file store: its relative path, size in bytes and last change (seconds since the epoch)."""

    path: str
    size: int
    modified: float


@runtime_checkable
class FileStore(Protocol):
    """Write-once files under relative paths; what the store layer needs of a local folder or a bucket."""

    def url(self, path: str) -> str:
        """What DuckDB or pyarrow reads for ``path`` (a local file path, or an object URL)."""
        ...

    def write_once(self, path: str, write: Callable[[str], None], *, fsync: bool = False) -> StoredFile:
        """Create the file ``path``: ``write(local_path)`` produces its bytes, then it appears whole.

        Refuses a path that exists (:class:`~eventkit.StoreError`, the old file untouched); a ``write``
        that raises leaves no file. ``fsync=True``: durable against a power cut once this returns.
        """
        ...

    def replace(self, path: str, data: bytes, *, fsync: bool = False) -> StoredFile:
        """Write ``path`` whole, replacing the file there if any (for small files derived from the catalog,
        such as the segment manifest): a reader sees the old bytes or the new, never a mix."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes; :class:`FileNotFoundError` when there is none."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a whole file in the store."""
        ...

    def listing(self, prefix: str, *, suffix: str = "") -> list[StoredFile]:
        """The whole files under folder ``prefix`` (recursively) whose names end in ``suffix``, by path."""
        ...

    def delete(self, path: str) -> bool:
        """Remove ``path``; True when a file was removed, False when there was none."""
        ...


_TMP = ".tmp-"  # files being written: never listed, never mistaken for data


class LocalFolder:
    """A :class:`FileStore` in a local folder (the store's own folder).

    A file is written under a temporary name beside its target, flushed when asked, then hard-linked
    to its name, which fails when the name is taken: write-once without a window where a reader could
    see half a file.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalFolder({str(self.root)!r})"

    def _full(self, path: str) -> Path:
        parts = Path(path).parts
        if not path or Path(path).is_absolute() or ".." in parts:
            raise StoreError(f"file store paths are relative and stay inside the store: {path!r}")
        return self.root / path

    def url(self, path: str) -> str:
        return str(self._full(path))

    def write_once(self, path: str, write: Callable[[str], None], *, fsync: bool = False) -> StoredFile:
        target = self._full(path)
        if target.exists():
            raise StoreError(f"{path} exists in the store; files are written once")
        new_dirs = [d for d in reversed(target.parents) if d != self.root and self.root in d.parents
                    and not d.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{_TMP}{uuid.uuid4().hex[:12]}-{target.name}")
        try:
            write(str(tmp))
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise StoreError(f"{path} exists in the store; files are written once") from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                # no hard links here (some network and FUSE file systems): check and rename instead
                if target.exists():
                    raise StoreError(f"{path} exists in the store; files are written once") from None
                os.rename(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        if fsync:
            # The bytes (by the final name: one inode with the temporary's), then the name in its
            # folder, then every folder made for it in its parent.
            for p in [target, target.parent, *(d.parent for d in new_dirs)]:
                fsync_path(p)
        st = target.stat()
        return StoredFile(path, st.st_size, st.st_mtime)

    def replace(self, path: str, data: bytes, *, fsync: bool = False) -> StoredFile:
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{_TMP}{uuid.uuid4().hex[:12]}-{target.name}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        if fsync:
            fsync_path(target.parent)
        st = target.stat()
        return StoredFile(path, st.st_size, st.st_mtime)

    def read_bytes(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def listing(self, prefix: str, *, suffix: str = "") -> list[StoredFile]:
        folder = self._full(prefix)
        if not folder.is_dir():
            return []
        out = []
        for p in folder.rglob(f"*{suffix}"):
            if p.name.startswith(_TMP) or not p.is_file():
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            out.append(StoredFile(p.relative_to(self.root).as_posix(), st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: f.path)

    def delete(self, path: str) -> bool:
        try:
            self._full(path).unlink()
        except FileNotFoundError:
            return False
        return True


def open_file_store(location: str | os.PathLike) -> FileStore:
    """The file store for a store at ``location`` (today: the local folder it names)."""
    return LocalFolder(Path(location))


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: the names in it) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
