"""What every built-in dataset shares: argument checks, and streaming a conversion into a store.

A dataset plugin only says what one ``prepare`` call produces (a :class:`Conversion`: the
number of images, a generator of batches, how the source is recorded); :class:`GridDataset`
does the rest, so every reader and renderer writes stores the same way, atomically and with
bounded memory.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from disdiff_core.data.store import StoreMetadata, create_store
from disdiff_core.errors import DataError
from disdiff_core.interfaces.dataset import DatasetPlugin, ProgressCallback

#: Images per batch handed to the store writer (≈12 MB at 64×64×3).
BATCH_IMAGES = 1024

Batch = tuple[np.ndarray, dict[str, np.ndarray]]


@dataclass
class Conversion:
    """What one ``prepare`` call writes.

    Attributes:
        num_images: N, known before the first batch.
        batches: (uint8 images (B, H, W, C), labels) in store row order; labels maps
            ``factors``/``attributes``/``nuisance`` to (B, ·) arrays.
        preprocessing: what was done to the source pixels, in words.
        source: called after the last batch (a reader may hash files as it reads them):
            the store's ``source`` entry, or None for procedural data.
        factor_sizes: the factor grid, when the source decides it (else the plugin's).
        attribute_names / nuisance_names / nuisance_sizes: the other label columns.
        extra: further group attributes.
    """

    num_images: int
    batches: Iterable[Batch]
    preprocessing: str
    source: Callable[[], dict[str, Any] | None] = lambda: None
    factor_sizes: list[int] | None = None
    attribute_names: list[str] = field(default_factory=list)
    nuisance_names: list[str] = field(default_factory=list)
    nuisance_sizes: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def take(limit: int | None, available: int) -> int:
    """How many images a conversion writes: all ``available``, or the first ``limit``."""
    return available if limit is None else min(limit, available)


def grid_factors(start: int, stop: int, sizes: Sequence[int]) -> np.ndarray:
    """Factor indices (stop-start, K) of rows start..stop of a full grid in canonical C order."""
    return np.stack(np.unravel_index(np.arange(start, stop), tuple(sizes)), axis=1).astype(np.int32)


class GridDataset(DatasetPlugin):
    """Base of the built-in datasets: validates ``prepare``'s arguments and writes the store.

    Subclasses set ``name``, ``needs_source`` and ``source_hint`` (what to pass as the source,
    for error messages) and implement :meth:`convert`.
    """

    source_hint: ClassVar[str] = ""

    def prepare(
        self,
        out: Path,
        *,
        source: Path | None = None,
        limit: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        out = Path(out)
        if self.needs_source and source is None:
            raise DataError(f"dataset {self.name!r} converts files you already have: pass the "
                            f"path of {self.source_hint} as the source")
        if not self.needs_source and source is not None:
            raise DataError(f"dataset {self.name!r} is procedural and reads no source")
        if source is not None:
            source = Path(source)
            if not source.exists():
                raise DataError(f"{source} does not exist; expected {self.source_hint}")
        if limit is not None and limit < 1:
            raise DataError(f"limit must be at least 1, got {limit}")
        conversion = self.convert(source, limit)
        meta = StoreMetadata(
            name=self.name,
            variant=self.variant,
            factor_names=self.factor_names,
            factor_sizes=conversion.factor_sizes or self.factor_sizes,
            attribute_names=conversion.attribute_names,
            nuisance_names=conversion.nuisance_names,
            nuisance_sizes=conversion.nuisance_sizes,
            preprocessing=conversion.preprocessing,
            params=self.params.model_dump(mode="json"),
            extra=conversion.extra,
        )
        with create_store(out, meta, num_images=conversion.num_images,
                          image_shape=self.image_shape) as writer:
            for images, labels in conversion.batches:
                writer.write(images, **labels)
                if progress is not None:
                    progress(writer.written, conversion.num_images)
            meta.source = conversion.source()
        return out

    @abstractmethod
    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        """Inspect the source (headers, listings: cheap, and every check that can fail before
        writing) and return the conversion to stream."""


class UnlabelledDataset(GridDataset):
    """Base of the readers of images without a factor grid (photo collections, whose labels,
    if any, are attributes of each image): their stores have no factors."""

    @property
    def factor_names(self) -> list[str]:
        return []

    @property
    def factor_sizes(self) -> list[int]:
        return []
