"""Reading the user's files: clear errors, checksums, and .npy/.npz arrays streamed by rows.

The published archives are large (MPI3D's .npz holds 12.7 GB of images, dSprites' 3 GB
decompressed), so arrays are never loaded whole: an .npz member is a .npy file inside a zip,
read through the zip's (de)compressing stream after its header, a block of rows at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from disdiff_core.errors import DataError

#: Low-level failures that mean "this file is not what it should be" rather than a bug.
#: UnpicklingError: a damaged pickled member (dSprites' ``metadata``) inside an intact zip.
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
                zipfile.BadZipFile, zlib.error, struct.error, NotImplementedError,
                pickle.UnpicklingError)


@contextlib.contextmanager
def reading(path: Path, extra: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn a low-level read failure inside the block into one DataError naming ``path``.

    ``extra``: a library's own error classes that also mean a damaged file (scipy's
    MatReadError, which is no OSError/ValueError), so they too name the file rather than
    surfacing as an internal error."""
    try:
        yield
    except DataError:
        raise
    except _READ_ERRORS + extra as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed (constant memory, any size)."""
    with reading(path), open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """The store's ``source`` entry for one file: name, sha256 and size."""
    return {"name": path.name, "sha256": file_sha256(path), "num_files": 1,
            "bytes": path.stat().st_size}


class Manifest:
    """Checksums of several files of one source folder, summarised as one sha256.

    The summary is the sha256 of ``"<hex>  <path relative to the folder>\\n"`` lines sorted by
    path, i.e. of what ``sha256sum`` prints for the same files from inside the folder, so a
    user can check it with standard tools.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._digests: dict[str, str] = {}
        self._bytes = 0

    def add(self, path: Path, sha256: str, num_bytes: int) -> None:
        """Record a file hashed elsewhere (e.g. from bytes that were read anyway)."""
        self._digests[path.relative_to(self.root).as_posix()] = sha256
        self._bytes += num_bytes

    def add_file(self, path: Path) -> None:
        """Hash a file, streamed."""
        self.add(path, file_sha256(path), path.stat().st_size)

    def add_files(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self.add_file(path)

    def record(self) -> dict[str, Any]:
        """The store's ``source`` entry: folder name, manifest sha256, file count, bytes."""
        lines = "".join(f"{self._digests[p]}  {p}\n" for p in sorted(self._digests))
        return {"name": self.root.name, "sha256": hashlib.sha256(lines.encode()).hexdigest(),
                "num_files": len(self._digests), "bytes": self._bytes}


def require_folder(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a DataError saying what was expected there."""
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; expected {what}")
    return path


class NpyRows:
    """A .npy array (a file, or a member of an .npz) read a block of rows at a time.

    Attributes:
        shape, dtype: from the .npy header, known before any data is read.
    """

    def __init__(self, path: Path, stream: IO[bytes], label: str) -> None:
        self.path, self.label = path, label
        self._stream = stream
        with reading(path):
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        if fortran or dtype.hasobject or not shape:
            raise DataError(f"{path}: {label} must be a C-ordered numeric array, got "
                            f"{'Fortran-ordered ' if fortran else ''}{dtype} {shape}")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype: np.dtype = dtype
        self._row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        self._next_row = 0

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` rows (fewer at the end); a short read means a truncated file."""
        count = min(count, self.shape[0] - self._next_row)
        with reading(self.path):
            data = self._stream.read(count * self._row_bytes)
        if len(data) != count * self._row_bytes:
            raise DataError(f"{self.path} is truncated: {self.label} ends after "
                            f"{self._next_row + len(data) // self._row_bytes} of "
                            f"{self.shape[0]} rows")
        self._next_row += count
        return np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))

    def iter_blocks(self, block: int, stop: int | None = None) -> Iterator[np.ndarray]:
        """Blocks of rows from the current position up to row ``stop`` (default: the end)."""
        stop = self.shape[0] if stop is None else min(stop, self.shape[0])
        while self._next_row < stop:
            yield self.read(min(block, stop - self._next_row))


class NpzFile:
    """An open .npz: its keys, and each member as :class:`NpyRows`."""

    def __init__(self, path: Path, archive: zipfile.ZipFile) -> None:
        self.path = path
        self._archive = archive
        self.keys = sorted(n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy"))

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self.keys]
        if missing:
            raise DataError(f"{self.path} has no key {', '.join(map(repr, missing))} "
                            f"(its keys: {', '.join(self.keys) or 'none'})")

    def rows(self, key: str) -> NpyRows:
        """Member ``key`` opened for reading by rows (each call starts at row 0)."""
        self.require(key)
        with reading(self.path):
            stream = self._archive.open(f"{key}.npy")
        return NpyRows(self.path, stream, repr(key))

    def pickled(self, key: str) -> Any:
        """A pickled object member (dSprites' ``metadata`` dict), loaded the way it was saved
        under Python 2: ``allow_pickle=True, encoding="latin1"``."""
        self.require(key)
        with reading(self.path), np.load(self.path, allow_pickle=True, encoding="latin1") as npz:
            value = npz[key]
        return value[()] if value.shape == () else value


@contextlib.contextmanager
def open_npz(path: Path) -> Iterator[NpzFile]:
    """Open an .npz for streaming its members (see :class:`NpzFile`)."""
    with reading(path):
        archive = zipfile.ZipFile(path)
    try:
        yield NpzFile(path, archive)
    finally:
        archive.close()


def check_rows(rows: NpyRows, *, tail: tuple[int, ...], dtype: str, what: str) -> None:
    """DataError unless ``rows`` holds (N, *tail) values of ``dtype``."""
    if rows.shape[1:] != tail or rows.dtype != np.dtype(dtype):
        expected = ", ".join(["N", *map(str, tail)])
        raise DataError(f"{rows.path}: {rows.label} is {rows.dtype} {rows.shape}; expected "
                        f"{what}: {dtype} ({expected})")


def check_length(path: Path, found: int, expected: dict[int, str], what: str) -> str:
    """The name of the expected length ``found`` is, or a DataError listing the lengths a
    complete file has (a source without labels must hold the whole grid)."""
    if found in expected:
        return expected[found]
    known = " or ".join(f"{n} ({name})" for n, name in expected.items())
    raise DataError(f"{path} holds {found} {what}; a complete file holds {known}. Without "
                    "labels the factors of each image follow from its position in the full "
                    "grid, so a partial or reordered file cannot be converted")


def iter_npz_rows(path: Path, key: str, stop: int, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) blocks of member ``key`` of an .npz, rows 0..stop, streamed."""
    with open_npz(path) as npz:
        rows = npz.rows(key)
        start = 0
        for values in rows.iter_blocks(block, stop):
            yield start, values
            start += len(values)
