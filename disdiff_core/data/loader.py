"""Training batches from a dataset store: an endless, deterministic, sharded, resumable stream.

Two ways to read, chosen by size (``in_memory="auto"``):

* RAM: the whole uint8 array is read once in the calling process (DataLoader workers forked
  from it share those pages); every epoch is a global permutation of the rows.
* chunks: whole zarr chunks are read in a shuffled chunk order, a window of them (about
  ``shuffle_buffer`` images) at a time, and the rows of each window are shuffled, so memory
  stays at about the window whatever the dataset's size.

Sharding: every distributed rank (``torch.distributed`` when initialised, or explicit
``rank``/``world_size``) and every DataLoader worker is one of ``world_size × num_workers``
shards. Epoch e permutes the rows (RAM) or the chunks (chunks) with a generator seeded by
(seed, e), the same in every shard, and shard i takes every n-th of them: the shards read
disjoint images each epoch and every shard opens its own store handle. Batches carry over
epoch boundaries (no short batch), and the stream is endless unless ``epochs`` is given.

Everything is a function of (seed, shard layout), with no state carried from one window to
the next, so the n-th batch of a rank can be found without reading the n − 1 before it: the
loader's iterator counts the batches it handed out (``state_dict``) and a new one set to that
count (``load_state_dict``) goes on with exactly the batches that would have come next (the
trainer's data-state protocol, for exact resume).

Batches are float32 tensors (B, C, H, W) in [-1, 1] (x / 127.5 − 1); with ``with_factors``,
(images, factors) with int64 factors (B, K).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from disdiff_core.data.store import Store, open_store
from disdiff_core.errors import DataError

#: Largest store (uncompressed image bytes) that ``in_memory="auto"`` loads into RAM, per
#: process: every distributed rank on a machine holds its own copy.
DEFAULT_MEMORY_LIMIT = 8 * 2**30
#: Images per shuffled window of the chunked reader (16 chunks; 50 MB at 64×64×3).
DEFAULT_SHUFFLE_BUFFER = 4096

Batch = tuple[np.ndarray, np.ndarray | None]


def distributed_shard(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world size): the explicit values, else torch.distributed's when initialised, else
    (0, 1)."""
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
    rank, world_size = rank or 0, world_size or 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
    return rank, world_size


def fits_in_memory(store: Store, in_memory: bool | Literal["auto"], memory_limit: int) -> bool:
    """Whether to read ``store`` into RAM: ``in_memory`` itself, or for "auto" whether its
    images (uncompressed) take at most ``memory_limit`` bytes."""
    if in_memory == "auto":
        return store.nbytes <= memory_limit
    return bool(in_memory)


class StoreStream(IterableDataset):
    """An IterableDataset of ready batches from a store (use with ``batch_size=None``).

    Args:
        path: the store.
        batch_size: images per batch.
        seed: seeds the epoch permutations and the window shuffles.
        in_memory: read the store into RAM (see :meth:`load`) rather than by chunks.
        shuffle_buffer: images per shuffled window of the chunked reader.
        with_factors: also yield the (B, K) factor indices.
        to_rgb: repeat grey images (C = 1) to 3 channels.
        rank, world_size: this process's distributed shard (see :func:`distributed_shard`).
        epochs: stop after this many epochs (the last batch may be short); None: endless.

    ``position`` is how many batches of this rank's stream were already consumed: an iteration
    started after setting it goes on exactly where those batches ended (see
    :class:`StreamIterator`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int,
        seed: int = 0,
        in_memory: bool = False,
        shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
        with_factors: bool = False,
        to_rgb: bool = False,
        rank: int = 0,
        world_size: int = 1,
        epochs: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        store = open_store(path)
        if with_factors and not store.has_factors:
            raise DataError(f"dataset store {path} has no factors to yield")
        self.path = Path(path)
        self.batch_size = batch_size
        self.seed = seed
        self.in_memory = in_memory
        self.shuffle_buffer = shuffle_buffer
        self.with_factors = with_factors
        self.to_rgb = to_rgb
        self.rank, self.world_size = rank, world_size
        self.epochs = epochs
        self.num_images = store.num_images
        self.chunk_images = store.chunk_images
        self.position = 0
        self._images: np.ndarray | None = None
        self._factors: np.ndarray | None = None

    def layout(self, num_workers: int) -> dict[str, int | bool]:
        """What the stream's order depends on: a saved position only means the same batches
        under the same layout."""
        layout: dict[str, int | bool] = {
            "seed": self.seed, "batch_size": self.batch_size, "num_images": self.num_images,
            "rank": self.rank, "world_size": self.world_size, "num_workers": num_workers,
            "in_memory": self.in_memory}
        if not self.in_memory:
            layout["shuffle_buffer"] = self.shuffle_buffer
        return layout

    def load(self) -> None:
        """Read every image (and the factors) into this process's memory."""
        store = open_store(self.path)
        self._images = store.read(0, store.num_images)
        self._factors = store.factors if self.with_factors else None

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        # The DataLoader takes batch k from worker k % num_workers. After `position` batches the
        # next one must come from the shard that would have served it, so worker i plays the
        # shard of worker (i + position) % num_workers, which had served `done` batches.
        logical = (worker_id + self.position) % num_workers
        done = (self.position - logical + num_workers - 1) // num_workers
        shard = self.rank * num_workers + logical
        num_shards = self.world_size * num_workers
        if self.num_images < num_shards:
            raise DataError(f"dataset store {self.path} has {self.num_images} images, fewer "
                            f"than the {num_shards} shards (ranks × workers) reading it")
        rows = self._ram_rows if self.in_memory else self._chunk_rows
        return self._batches(rows(shard, num_shards, done * self.batch_size))

    def _batches(self, blocks: Iterator[list[np.ndarray]]
                 ) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive ``batch_size`` slices of a shard's rows, across block boundaries."""
        pending: list[list[np.ndarray]] = []
        count = 0
        for block in blocks:
            pending.append(block)
            count += len(block[0])
            if count < self.batch_size:
                continue
            merged = [np.concatenate(parts) for parts in zip(*pending, strict=True)]
            full = count // self.batch_size
            for i in range(full):
                part = slice(i * self.batch_size, (i + 1) * self.batch_size)
                yield self._tensors([a[part] for a in merged])
            pending = [[a[full * self.batch_size :] for a in merged]]
            count -= full * self.batch_size
        if count:
            yield self._tensors([np.concatenate(parts) for parts in zip(*pending, strict=True)])

    def _epochs(self, first: int = 0) -> Iterator[int]:
        return itertools.count(first) if self.epochs is None else iter(range(first, self.epochs))

    def _epoch_order(self, epoch: int, length: int) -> np.ndarray:
        """The permutation of epoch ``epoch``, the same in every shard."""
        return np.random.default_rng([self.seed, epoch]).permutation(length)

    def _ram_rows(self, shard: int, num_shards: int, skip: int) -> Iterator[list[np.ndarray]]:
        """Shard ``shard``'s rows of each epoch's permutation, after the first ``skip``."""
        if self._images is None:
            self.load()
        assert self._images is not None
        per_epoch = len(range(shard, self.num_images, num_shards))
        first, skip = divmod(skip, per_epoch)
        for epoch in self._epochs(first):
            mine = self._epoch_order(epoch, self.num_images)[shard::num_shards][skip:]
            skip = 0
            for start in range(0, len(mine), self.batch_size):
                rows = mine[start : start + self.batch_size]
                yield self._block(self._images[rows], rows, self._factors)

    def _chunk_rows(self, shard: int, num_shards: int, skip: int) -> Iterator[list[np.ndarray]]:
        """Shard ``shard``'s read units of each epoch's permutation, read a window (about
        ``shuffle_buffer`` images) at a time and shuffled within it, after the first ``skip``
        rows. Skipped windows are not read: a window's size and order follow from the seeds."""
        store = open_store(self.path)  # this shard's own handle
        factors = store.factors if self.with_factors else None
        # read units: whole chunks, or smaller slices when there are fewer chunks than shards
        unit = self.chunk_images
        if -(-self.num_images // unit) < num_shards:
            unit = -(-self.num_images // num_shards)
        starts = np.arange(0, self.num_images, unit)
        window = max(1, self.shuffle_buffer // unit)
        for epoch in self._epochs():
            mine = starts[self._epoch_order(epoch, len(starts))[shard::num_shards]]
            for first in range(0, len(mine), window):
                spans = [(start, min(start + unit, self.num_images))
                         for start in mine[first : first + window]]
                size = sum(stop - start for start, stop in spans)
                if skip >= size:
                    skip -= size
                    continue
                rows = np.concatenate([np.arange(start, stop) for start, stop in spans])
                images = np.concatenate([store.read(start, stop) for start, stop in spans])
                order = np.random.default_rng(
                    [self.seed, epoch, shard, num_shards, first]).permutation(size)[skip:]
                skip = 0
                yield self._block(images[order], rows[order], factors)

    @staticmethod
    def _block(images: np.ndarray, rows: np.ndarray,
               factors: np.ndarray | None) -> list[np.ndarray]:
        return [images] if factors is None else [images, factors[rows]]

    def _tensors(self, arrays: list[np.ndarray]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # numpy, single-threaded: cheap, and no contention with the training's intra-op threads
        images = np.ascontiguousarray(arrays[0].transpose(0, 3, 1, 2), dtype=np.float32)
        np.divide(images, np.float32(127.5), out=images)
        np.subtract(images, np.float32(1.0), out=images)
        if self.to_rgb and images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)
        if not self.with_factors:
            return torch.from_numpy(images)
        return torch.from_numpy(images), torch.from_numpy(np.ascontiguousarray(arrays[1]))


class StoreLoader(DataLoader):
    """The DataLoader of a :class:`StoreStream`, whose iterators can save and restore their
    position (:class:`StreamIterator`)."""

    dataset: StoreStream

    def __iter__(self) -> StreamIterator:  # type: ignore[override]
        return StreamIterator(self)


class StreamIterator(Iterator[Any]):
    """An iterator over a :class:`StoreLoader` that counts the batches it handed out.

    ``state_dict()`` is that count with the layout it depends on; ``load_state_dict()`` makes
    the next batch the one that followed them. The DataLoader's own iterator (and its worker
    processes) starts at the first ``next``, from the current count.
    """

    def __init__(self, loader: StoreLoader) -> None:
        self._loader = loader
        self._source: Iterator[Any] | None = None
        self.batches = 0

    def __iter__(self) -> StreamIterator:
        return self

    def __next__(self) -> Any:
        if self._source is None:
            self._loader.dataset.position = self.batches
            self._source = DataLoader.__iter__(self._loader)
        batch = next(self._source)
        self.batches += 1
        return batch

    def _layout(self) -> dict[str, int | bool]:
        return self._loader.dataset.layout(self._loader.num_workers)

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "layout": self._layout()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Go on after ``state["batches"]`` batches; ValueError when the state was saved under
        another layout (other seed, batch size, shards …), whose batches this stream lacks."""
        if state.get("layout") != self._layout():
            raise ValueError(f"it was saved for the layout {state.get('layout')}, this stream "
                             f"has {self._layout()}")
        self.batches = int(state["batches"])
        self._source = None


def make_loader(
    store: str | Path,
    *,
    batch_size: int,
    seed: int = 0,
    in_memory: bool | Literal["auto"] = "auto",
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    num_workers: int = 0,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    with_factors: bool = False,
    to_rgb: bool = False,
    rank: int | None = None,
    world_size: int | None = None,
    epochs: int | None = None,
    pin_memory: bool = False,
) -> StoreLoader:
    """A DataLoader of training batches from a store (see the module docstring).

    Args:
        store: path of the dataset store.
        batch_size: images per batch, per rank.
        seed: makes the stream reproducible (same seed and shard layout, same batches).
        in_memory: True, False, or "auto" (RAM when the images take ≤ ``memory_limit`` bytes).
        num_workers: DataLoader worker processes; each reads its own disjoint share.
        shuffle_buffer: images per shuffled window of the chunked reader.
        with_factors: yield (images, factors) rather than images.
        to_rgb: repeat grey images to 3 channels.
        rank, world_size: explicit distributed shard; default from torch.distributed.
        epochs: None for an endless stream (training), else stop after that many epochs.
        pin_memory: pin batches for faster host→GPU copies.

    Returns:
        A DataLoader yielding float32 (B, C, H, W) tensors in [-1, 1] (and int64 (B, K)),
        whose iterators offer ``state_dict``/``load_state_dict`` (:class:`StreamIterator`).
    """
    rank, world_size = distributed_shard(rank, world_size)
    opened = open_store(store)
    dataset = StoreStream(
        store, batch_size=batch_size, seed=seed,
        in_memory=fits_in_memory(opened, in_memory, memory_limit),
        shuffle_buffer=shuffle_buffer, with_factors=with_factors, to_rgb=to_rgb,
        rank=rank, world_size=world_size, epochs=epochs,
    )
    if dataset.in_memory:
        dataset.load()  # once, before workers fork, so they share it
    # Its own generator: the DataLoader draws a worker seed when an iteration starts, which
    # must not consume the global torch stream (a resumed run starts one at another moment).
    return StoreLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                       prefetch_factor=4 if num_workers else None, generator=torch.Generator())
