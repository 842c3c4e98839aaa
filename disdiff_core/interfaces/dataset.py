"""The dataset interface: a built dataset plugin describes its factors and writes a store.

A dataset plugin either converts files the user already has (Shapes3D's ``3dshapes.h5``,
dSprites' ``.npz`` …) or synthesises images procedurally. Either way its one product is a zarr
store in the layout of :mod:`disdiff_core.data.store`; training, metrics and previews read only
that store, never the original files. The toolkit never downloads anything.

Built by the spec's factory as ``factory(params)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from disdiff_core.plugin import Params

#: ``progress(done, total)``: images written so far and images to write in all.
ProgressCallback = Callable[[int, int], None]


class DatasetPlugin(ABC):
    """Base of every built dataset plugin.

    Subclasses set ``name`` (the registered plugin name, recorded in the store) and
    ``needs_source`` (True for readers of real files, False for procedural datasets), and
    describe the images and factors the store will hold for the given parameters.

    Args:
        params: the plugin's validated parameter model (recorded in the store).
    """

    name: ClassVar[str]
    needs_source: ClassVar[bool]

    def __init__(self, params: Params) -> None:
        self.params = params

    @property
    def variant(self) -> str | None:
        """A named variant of the dataset (MPI3D: ``toy``, ``realistic``, ``real``), recorded
        in the store and meant to be named with every result; None when there is only one."""
        return None

    @property
    @abstractmethod
    def factor_names(self) -> list[str]:
        """Ground-truth factor names in canonical order (empty for unlabelled data)."""

    @property
    @abstractmethod
    def factor_sizes(self) -> list[int]:
        """Number of values of each factor, canonical order; the full grid holds
        ``prod(factor_sizes)`` images in C order. A reader whose source decides the grid
        (MPI3D's older 4×4 toy release) records the actual sizes in the store, which is
        authoritative."""

    @property
    @abstractmethod
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the stored images, uint8 pixels; C = 1 (grey) or 3 (RGB)."""

    @abstractmethod
    def prepare(
        self,
        out: Path,
        *,
        source: Path | None = None,
        limit: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Write the dataset's store at ``out`` atomically and return ``out``.

        Args:
            out: the store folder to create (replaced if it exists).
            source: the user's file or folder (readers); procedural datasets take none.
            limit: keep only the first ``limit`` images of the dataset's order (for quick
                trials and tests); None keeps all.
            progress: called with (images written, images in all) as the conversion proceeds.

        Raises:
            DataError: naming the file, when the source is missing, truncated, of the wrong
                shape or lacks a key; no store is left at ``out`` then.
        """
