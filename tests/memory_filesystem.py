"""A Beam filesystem that lives in this process's memory, under the ``memtest://`` scheme.

Beam finds filesystems by scheme among the subclasses of ``FileSystem``, so defining this class
registers it. Tests use it to prove that a path is opened through Beam's ``FileSystems`` (as
``gs://`` or ``s3://`` paths would be), not with ``open()``. The in-process runners share the
store with the test.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem

SCHEME = "memtest"
_FILES: dict[str, bytes] = {}


def put(path: str, data: bytes) -> str:
    """Store ``data`` at ``memtest://<path>``; returns the full path."""
    full = f"{SCHEME}://{path}"
    _FILES[full] = data
    return full


def clear() -> None:
    _FILES.clear()


class _Writer(io.BytesIO):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def close(self) -> None:
        _FILES[self._path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):  # type: ignore[misc]
    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(path.strip("/") for path in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str) -> Iterator[FileMetadata]:
        for path, data in sorted(_FILES.items()):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(data), time.time())

    def create(
        self,
        path: str,
        mime_type: str = "application/octet-stream",
        compression_type: str = CompressionTypes.AUTO,
    ) -> Any:
        return _Writer(path)

    def open(
        self,
        path: str,
        mime_type: str = "application/octet-stream",
        compression_type: str = CompressionTypes.AUTO,
    ) -> Any:
        if path not in _FILES:
            raise BeamIOError("open failed", {path: FileNotFoundError(path)})
        return io.BytesIO(_FILES[path])

    def copy(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            _FILES[destination] = _FILES[source]

    def rename(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        self.copy(source_file_names, destination_file_names)
        self.delete(source_file_names)

    def exists(self, path: str) -> bool:
        return path in _FILES

    def size(self, path: str) -> int:
        return len(_FILES[path])

    def last_updated(self, path: str) -> float:
        return time.time()

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, len(_FILES[path]), time.time())

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            _FILES.pop(path, None)
