"""The dataset store: one zarr group per dataset, written atomically, read with clear errors.

Layout (zarr format 3)::

    images      uint8 (N, H, W, C)   chunks of CHUNK_IMAGES whole images, zstd level 3
    factors     int32 (N, K)         factor indices, columns in canonical factor order
                                     (absent for unlabelled data)
    attributes  int8  (N, A)         binary per-image labels that are not a factor grid
                                     (CelebA's 40 attributes as 1 = present, 0 = absent)
    nuisance    int32 (N, M)         indices of variables that vary in the data but are not
                                     ground-truth factors under the usual protocol (SmallNORB's
                                     object instance); absent otherwise
    zarr.json   group attributes: format, format_version, name, variant, factor_names,
                factor_sizes, attribute_names, nuisance_names, nuisance_sizes, num_images,
                image_shape, source (file name and sha256), preprocessing, params,
                toolkit_version, created, and ``complete: true`` written last.

Rows are kept in the order the source holds them (the full grids of the published files are in
canonical C order, so there row = ravel_multi_index(factors, sizes)); ``factors`` says which
combination each row holds, so a store of a subset still gives a correct
:class:`~disdiff_core.data.ground_truth.GroundTruth`.

A store is built in a temporary sibling folder and renamed into place only after every image
and the ``complete`` marker are written: an interrupted or failed conversion leaves nothing under
the final name (at most a ``.NAME.*.tmp`` folder, after a hard kill).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import disdiff_core
from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.errors import DataError
from disdiff_core.io import atomic_path
from disdiff_core.validation import describe

FORMAT = "disdiff-dataset"
FORMAT_VERSION = 1
#: Images per chunk: whole images, enough of them that a chunk read (≈3 MB at 64×64×3)
#: amortises the per-chunk cost, few enough that a shuffle buffer mixes many chunks.
CHUNK_IMAGES = 256
#: What zarr and its codecs raise on a damaged store (zarr's own errors are ValueErrors, a
#: codec's RuntimeError, a missing file an OSError, a missing key a KeyError).
_DAMAGED = (OSError, ValueError, RuntimeError, LookupError, TypeError)


def _compressor() -> Any:
    """Zstandard level 3 on whole chunks: in bench/bench_data.py it compresses these images as
    well as or better than Blosc variants (Blosc's small blocks cost ratio; bit shuffling halves
    the ratio of RGB images and the decoding speed) and decodes at several hundred MB/s per
    core, far above training throughput; it also keeps no thread pool of its own, which
    matters in forked DataLoader workers."""
    from zarr.codecs import ZstdCodec

    return ZstdCodec(level=3)


@dataclass
class StoreMetadata:
    """What a store says about its content (written as group attributes).

    Attributes:
        name: dataset plugin name (``shapes3d``, ``toy-shapes`` …).
        variant: a named variant of the dataset (MPI3D ``toy``/``realistic``/``real``), if any.
        factor_names / factor_sizes: the ground-truth factors in canonical order (empty for
            unlabelled data).
        attribute_names: names of the binary ``attributes`` columns (empty when none).
        nuisance_names / nuisance_sizes: the ``nuisance`` columns (empty when none).
        source: where the images came from: ``{"name", "sha256", "num_files"}`` for files (for
            a folder or several files, ``sha256`` is that of the ``sha256sum``-style manifest
            ``"<hex>  <relative path>\\n"`` sorted by path), ``None`` for procedural data.
        preprocessing: what was done to the source images (crop, resampling, value mapping).
        params: the dataset plugin's parameters.
        extra: further dataset-specific attributes (e.g. SmallNORB's instance policy).
    """

    name: str
    variant: str | None = None
    factor_names: list[str] = field(default_factory=list)
    factor_sizes: list[int] = field(default_factory=list)
    attribute_names: list[str] = field(default_factory=list)
    nuisance_names: list[str] = field(default_factory=list)
    nuisance_sizes: list[int] = field(default_factory=list)
    source: dict[str, Any] | None = None
    preprocessing: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.factor_names) != len(self.factor_sizes):
            raise ValueError("factor_names and factor_sizes differ in length")
        if len(self.nuisance_names) != len(self.nuisance_sizes):
            raise ValueError("nuisance_names and nuisance_sizes differ in length")

    def label_columns(self) -> dict[str, tuple[str, list[int] | None, int]]:
        """Label arrays this store has: key → (dtype, sizes to check indices against or None,
        number of columns)."""
        columns = {
            "factors": ("int32", self.factor_sizes, len(self.factor_sizes)),
            "attributes": ("int8", None, len(self.attribute_names)),
            "nuisance": ("int32", self.nuisance_sizes, len(self.nuisance_sizes)),
        }
        return {key: spec for key, spec in columns.items() if spec[2]}


class StoreWriter:
    """Appends batches of images (and their labels) to a store being built.

    Batches of any size are accepted; the writer buffers at most one chunk so that every write
    to zarr covers whole chunks (no read-modify-write), keeping memory at about one batch plus
    one chunk.
    """

    def __init__(self, group: Any, meta: StoreMetadata, num_images: int, image_shape: Sequence[int],
                 chunk_images: int) -> None:
        self.meta = meta
        self.num_images = num_images
        self.image_shape = tuple(int(s) for s in image_shape)
        self.chunk_images = chunk_images
        self._group = group
        self._written = 0
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        config = {"write_empty_chunks": True}
        self._arrays = {
            "images": group.create_array(
                "images", shape=(num_images, *self.image_shape), dtype="uint8",
                chunks=(chunk_images, *self.image_shape), compressors=_compressor(),
                config=config, dimension_names=("image", "y", "x", "channel"),
            )
        }
        self._sizes: dict[str, np.ndarray | None] = {}
        for key, (dtype, sizes, columns) in meta.label_columns().items():
            self._arrays[key] = group.create_array(
                key, shape=(num_images, columns), dtype=dtype,
                chunks=(max(chunk_images, 65536), columns), compressors=_compressor(),
                config=config, dimension_names=("image", key),
            )
            self._sizes[key] = None if sizes is None else np.asarray(sizes)

    @property
    def written(self) -> int:
        """Images accepted so far (buffered ones included)."""
        return self._written + self._pending_rows

    def write(self, images: np.ndarray, **labels: np.ndarray) -> None:
        """Append a batch.

        Args:
            images: uint8 (B, H, W, C) with the store's (H, W, C).
            labels: ``factors`` (B, K), ``attributes`` (B, A), ``nuisance`` (B, M): exactly
                the label arrays the metadata announces; indices are checked against the sizes.
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != self.image_shape:
            raise ValueError(
                f"expected uint8 images of shape (B, {', '.join(map(str, self.image_shape))}), "
                f"got {images.dtype} {images.shape}"
            )
        if set(labels) != set(self._sizes):
            raise ValueError(f"this store takes labels {sorted(self._sizes)}, got {sorted(labels)}")
        batch = {"images": images}
        for key, value in labels.items():
            value = np.asarray(value)
            if value.shape != (len(images), self._arrays[key].shape[1]):
                raise ValueError(f"{key} of shape {value.shape} for {len(images)} images")
            sizes = self._sizes[key]
            if sizes is not None and ((value < 0).any() or (value >= sizes).any()):
                raise ValueError(f"{key} indices outside the sizes {sizes.tolist()}")
            batch[key] = value
        if self.written + len(images) > self.num_images:
            raise ValueError(f"more than the {self.num_images} images announced")
        self._pending.append(batch)
        self._pending_rows += len(images)
        if self._pending_rows >= self.chunk_images:
            self._flush(whole_chunks_only=True)

    def _flush(self, *, whole_chunks_only: bool) -> None:
        if not self._pending:
            return
        merged = {k: np.concatenate([b[k] for b in self._pending]) for k in self._pending[0]}
        count = len(merged["images"])
        if whole_chunks_only:
            count -= count % self.chunk_images
        start, stop = self._written, self._written + count
        for key, value in merged.items():
            self._arrays[key][start:stop] = value[:count]
        rest = {k: v[count:] for k, v in merged.items()}
        self._pending = [rest] if len(rest["images"]) else []
        self._pending_rows = len(rest["images"])
        self._written = stop

    def _finish(self) -> None:
        self._flush(whole_chunks_only=False)
        if self._written != self.num_images:
            raise DataError(
                f"the conversion produced {self._written} images, {self.num_images} were expected"
            )
        meta = self.meta
        attrs = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": meta.name,
            "variant": meta.variant,
            "factor_names": list(meta.factor_names),
            "factor_sizes": [int(s) for s in meta.factor_sizes],
            "attribute_names": list(meta.attribute_names),
            "nuisance_names": list(meta.nuisance_names),
            "nuisance_sizes": [int(s) for s in meta.nuisance_sizes],
            "num_images": self.num_images,
            "image_shape": list(self.image_shape),
            "source": meta.source,
            "preprocessing": meta.preprocessing,
            "params": meta.params,
            **meta.extra,
            "toolkit_version": disdiff_core.__version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        self._group.attrs.update(attrs)
        self._group.attrs["complete"] = True  # last: only a finished store carries it


@contextlib.contextmanager
def create_store(
    path: str | Path,
    meta: StoreMetadata,
    *,
    num_images: int,
    image_shape: Sequence[int],
    chunk_images: int = CHUNK_IMAGES,
) -> Iterator[StoreWriter]:
    """Build a store at ``path`` atomically; yields a :class:`StoreWriter`.

    The store is written in a temporary sibling folder; when the block ends without error and
    exactly ``num_images`` images were written, the ``complete`` marker is set and the folder
    renamed to ``path`` (replacing what was there). On any error the temporary folder is deleted
    and the error re-raised, so ``path`` is never a half-written store.

    Args:
        path: final store folder (by convention ``*.zarr``).
        meta: what the store holds (see :class:`StoreMetadata`).
        num_images: N, known up front (readers know it from the source's header).
        image_shape: (H, W, C) of every image.
        chunk_images: images per chunk.
    """
    import zarr

    if num_images < 1:
        raise DataError("a dataset store needs at least one image")
    with atomic_path(path, directory=True) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        writer = StoreWriter(group, meta, num_images, image_shape, chunk_images)
        yield writer
        writer._finish()


class StoreAttributes(BaseModel):
    """The group attributes readers rely on, checked when a store is opened: a store edited by
    hand or damaged then fails there, naming its path, not later in whatever reads a value."""

    model_config = ConfigDict(extra="allow", strict=True)

    format_version: int = Field(ge=1)
    name: str
    variant: str | None = None
    factor_names: list[str] | None = None
    factor_sizes: list[int] | None = None
    attribute_names: list[str] | None = None
    nuisance_names: list[str] | None = None
    nuisance_sizes: list[int] | None = None
    num_images: int = Field(ge=1)

    @model_validator(mode="after")
    def _names_match_sizes(self) -> StoreAttributes:
        for kind in ("factor", "nuisance"):
            names = getattr(self, f"{kind}_names") or []
            sizes = getattr(self, f"{kind}_sizes") or []
            if len(names) != len(sizes) or any(size < 1 for size in sizes):
                raise ValueError(f"{kind}_names and {kind}_sizes must pair each name with a "
                                 "size of at least 1")
        return self


class Store:
    """A complete dataset store opened for reading (see :func:`open_store`).

    Attributes:
        path: the store folder.
        attrs: its group attributes (see the module docstring).
        images: the zarr array of uint8 (N, H, W, C) images, read lazily.
    """

    def __init__(self, path: Path, group: Any) -> None:
        self.path = path
        self.attrs: dict[str, Any] = dict(group.attrs)
        self._group = group
        self.images = group["images"]

    @property
    def name(self) -> str:
        return str(self.attrs["name"])

    @property
    def variant(self) -> str | None:
        return self.attrs.get("variant")

    @property
    def factor_names(self) -> list[str]:
        return list(self.attrs.get("factor_names") or [])

    @property
    def factor_sizes(self) -> list[int]:
        return [int(s) for s in self.attrs.get("factor_sizes") or []]

    @property
    def attribute_names(self) -> list[str]:
        return list(self.attrs.get("attribute_names") or [])

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        h, w, c = (int(s) for s in self.images.shape[1:])
        return h, w, c

    @property
    def chunk_images(self) -> int:
        return int(self.images.chunks[0])

    @property
    def nbytes(self) -> int:
        """Bytes of all images uncompressed (what loading into RAM costs)."""
        return int(np.prod(self.images.shape))

    @property
    def has_factors(self) -> bool:
        return "factors" in self._group

    @cached_property
    def factors(self) -> np.ndarray | None:
        """(N, K) int64 factor indices, canonical column order; None for unlabelled data."""
        return self._read_indices("factors", self.factor_sizes)

    @cached_property
    def attributes(self) -> np.ndarray | None:
        """(N, A) int8 binary labels (1 = present, 0 = absent); None when absent."""
        return self._read_array("attributes") if "attributes" in self._group else None

    @cached_property
    def nuisance(self) -> np.ndarray | None:
        """(N, M) int64 indices of non-factor variables (see ``nuisance_names``); None if absent."""
        return self._read_indices("nuisance", [int(n) for n in self.attrs.get("nuisance_sizes") or []])

    def ground_truth(self) -> GroundTruth:
        """The store's factors as a :class:`GroundTruth` whose rows are this store's rows."""
        if self.factors is None:
            raise DataError(
                f"dataset store {self.path} ({self.name}) has no ground-truth factors; "
                "metrics that need factors cannot run on it"
            )
        return GroundTruth(self.factor_sizes, self.factor_names, factors=self.factors,
                           nuisance=self.nuisance,
                           nuisance_sizes=[int(n) for n in self.attrs.get("nuisance_sizes") or []])

    def find_rows(self, factors: np.ndarray) -> np.ndarray:
        """Rows (B,) holding the factor combinations (B, K), −1 where the store has none (a
        store of a subset); for a combination held by several rows, one of them."""
        if self.factors is None:
            raise DataError(f"dataset store {self.path} has no factors")
        flat = np.ravel_multi_index(self.factors.T, self.factor_sizes)
        wanted = np.ravel_multi_index(np.asarray(factors, dtype=np.int64).T, self.factor_sizes)
        order = np.argsort(flat, kind="stable")
        position = np.minimum(np.searchsorted(flat[order], wanted), len(flat) - 1)
        rows = order[position]
        return np.where(flat[rows] == wanted, rows, -1)

    def read(self, start: int, stop: int) -> np.ndarray:
        """uint8 images[start:stop], (stop-start, H, W, C)."""
        try:
            return np.asarray(self.images[start:stop])
        except _DAMAGED as exc:
            raise DataError(f"dataset store {self.path}: cannot read images {start}:{stop} "
                            f"({type(exc).__name__}: {exc}); the store is corrupt, prepare it again"
                            ) from None

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """uint8 images of the given rows, in the given order (any order, repeats allowed);
        each chunk touched is decoded once."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.num_images):
            raise IndexError(f"rows outside 0..{self.num_images - 1}")
        if not rows.size:
            return np.zeros((0, *self.image_shape), np.uint8)
        unique, inverse = np.unique(rows, return_inverse=True)
        try:
            images = np.asarray(self.images.get_orthogonal_selection((unique,)))
        except _DAMAGED as exc:
            raise DataError(f"dataset store {self.path}: cannot read images "
                            f"({type(exc).__name__}: {exc}); the store is corrupt") from None
        return images[inverse.reshape(-1)]

    def iter_batches(self, batch_size: int = CHUNK_IMAGES) -> Iterator[tuple[int, np.ndarray]]:
        """(start row, uint8 images) over the whole store in row order."""
        for start in range(0, self.num_images, batch_size):
            yield start, self.read(start, min(start + batch_size, self.num_images))

    def _read_indices(self, key: str, sizes: list[int]) -> np.ndarray | None:
        """Label array ``key`` as int64 indices, None when the store has none; an index outside
        0..size-1 is a damaged store (it would otherwise fail deep inside a metric)."""
        if key not in self._group:
            return None
        values = self._read_array(key).astype(np.int64)
        if ((values < 0) | (values >= np.asarray(sizes, dtype=np.int64))).any():
            raise DataError(f"dataset store {self.path} is corrupt: {key!r} holds indices "
                            f"outside the sizes {sizes}; prepare it again")
        return values

    def _read_array(self, key: str) -> np.ndarray:
        try:
            return np.asarray(self._group[key][:])
        except _DAMAGED as exc:
            raise DataError(f"dataset store {self.path}: cannot read {key!r} "
                            f"({type(exc).__name__}: {exc}); the store is corrupt") from None

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (what ``disdiff data info --json`` prints)."""
        return {
            "path": str(self.path),
            "name": self.name,
            "variant": self.variant,
            "num_images": self.num_images,
            "image_shape": list(self.image_shape),
            "factor_names": self.factor_names,
            "factor_sizes": self.factor_sizes,
            "attribute_names": self.attribute_names,
            "nuisance_names": list(self.attrs.get("nuisance_names") or []),
            "nuisance_sizes": list(self.attrs.get("nuisance_sizes") or []),
            "chunk_images": self.chunk_images,
            **{k: self.attrs.get(k) for k in ("source", "preprocessing", "params",
                                                "toolkit_version", "created")},
        }


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a disdiff dataset store, complete or not (read
    from its zarr.json without opening it: the CLI's guard before replacing a folder)."""
    meta = Path(path) / "zarr.json"
    try:
        return json.loads(meta.read_text())["attributes"]["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        return False


def open_store(path: str | Path) -> Store:
    """Open a complete store for reading.

    Raises:
        DataError: naming the path, when nothing is there, when it is not a zarr store of this
            toolkit, when it is incomplete (an interrupted conversion), or when its arrays are
            missing or disagree in shape.
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise DataError(f"no dataset store at {path}; create it with `disdiff data prepare`")
    try:
        group = zarr.open_group(store=str(path), mode="r")
    except _DAMAGED as exc:
        raise DataError(f"{path} is not a dataset store ({type(exc).__name__}: {exc})") from None
    attrs = dict(group.attrs)
    if attrs.get("format") != FORMAT:
        raise DataError(f"{path} is a zarr group but not a disdiff dataset store")
    if attrs.get("complete") is not True:
        raise DataError(f"dataset store {path} is incomplete (an interrupted conversion?); "
                        "prepare it again")
    try:
        checked = StoreAttributes.model_validate(attrs)
    except ValidationError as exc:
        raise DataError(f"dataset store {path} is corrupt: its attributes are wrong "
                        f"({describe(exc)}); prepare it again") from None
    if checked.format_version > FORMAT_VERSION:
        raise DataError(f"dataset store {path} has format version {checked.format_version}; "
                        f"this toolkit reads up to {FORMAT_VERSION}")
    _check_layout(path, group, attrs)
    return Store(path, group)


def _check_layout(path: Path, group: Any, attrs: dict[str, Any]) -> None:
    """Arrays present, shapes agreeing with each other and with the attributes, every image
    chunk on disk (a missing chunk would otherwise read back as black images)."""
    def corrupt(why: str) -> DataError:
        return DataError(f"dataset store {path} is corrupt: {why}; prepare it again")

    try:
        keys = set(group.array_keys())
        if "images" not in keys:
            raise corrupt("no 'images' array")
        images = group["images"]
        n = images.shape[0]
        if images.ndim != 4 or images.dtype != np.uint8 or n != attrs.get("num_images"):
            raise corrupt(f"'images' is {images.dtype} {images.shape}")
        for key, names in (("factors", "factor_sizes"), ("attributes", "attribute_names"),
                           ("nuisance", "nuisance_sizes")):
            columns = len(attrs.get(names) or [])
            if (columns or key in group) and (
                    key not in keys or group[key].shape != (n, columns)
                    or np.dtype(group[key].dtype).kind not in "iu"):
                raise corrupt(f"{key!r} missing or not integers of shape ({n}, {columns})")
        if images.nchunks_initialized != images.nchunks:
            raise corrupt(f"{images.nchunks - images.nchunks_initialized} of "
                          f"{images.nchunks} image chunks are missing")
    except DataError:
        raise
    except _DAMAGED as exc:
        raise corrupt(f"{type(exc).__name__}: {exc}") from None
