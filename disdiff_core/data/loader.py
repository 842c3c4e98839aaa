"""Training batches from a dataset store: an endless, deterministic, sharded stream.

Two ways to read, chosen by size (``in_memory="auto"``):

* RAM: the whole uint8 array is read once in the calling process (DataLoader workers forked
  from it share those pages); every epoch is a global permutation of the rows.
* chunks: whole zarr chunks are read in a shuffled chunk order and mixed through a shuffle
  buffer (a fixed array of images; each incoming image replaces a random one, which goes out),
  so memory stays at about the buffer whatever the dataset's size.

Sharding: every distributed rank (``torch.distributed`` when initialised, or explicit
``rank``/``world_size``) and every DataLoader worker is one of ``world_size × num_workers``
shards. Epoch e permutes the rows (RAM) or the chunks (chunks) with a generator seeded by
(seed, e), the same in every shard, and shard i takes every n-th of them: the shards read
disjoint images each epoch and every shard opens its own store handle. Batches carry over
epoch boundaries (no short batch), and the stream is endless unless ``epochs`` is given.
Everything is a function of (seed, shard layout), so a run is reproducible.

Batches are float32 tensors (B, C, H, W) in [-1, 1] (x / 127.5 − 1); with ``with_factors``,
(images, factors) with int64 factors (B, K).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from disdiff_core.data.store import Store, open_store
from disdiff_core.errors import DataError

#: Largest store (uncompressed image bytes) that ``in_memory="auto"`` loads into RAM, per
#: process: every distributed rank on a machine holds its own copy.
DEFAULT_MEMORY_LIMIT = 8 * 2**30
#: Images held by the chunked reader's shuffle buffer (16 chunks; 50 MB at 64×64×3).
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


class ShuffleBuffer:
    """A fixed-capacity buffer of rows: each incoming row takes the place of a random buffered
    one, which is released (tf.data's shuffle, vectorised over blocks). Capacity 0 passes rows
    through in order."""

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.rng = rng
        self._rows: list[np.ndarray] | None = None
        self._filled = 0

    def push(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Add a block (parallel arrays of equal length); return the rows released."""
        if self.capacity == 0:
            return arrays
        if self._rows is None:
            self._rows = [np.empty((self.capacity, *a.shape[1:]), a.dtype) for a in arrays]
        take = min(self.capacity - self._filled, len(arrays[0]))
        for buf, a in zip(self._rows, arrays, strict=True):
            buf[self._filled : self._filled + take] = a[:take]
        self._filled += take
        rest = [a[take:] for a in arrays]
        if not len(rest[0]):
            return [a[:0] for a in arrays]
        if len(rest[0]) > self.capacity:  # a block larger than the buffer: mix it in first
            order = self.rng.permutation(len(rest[0]))
            rest = [a[order] for a in rest]
        released = []
        for start in range(0, len(rest[0]), self.capacity):
            part = [a[start : start + self.capacity] for a in rest]
            slots = self.rng.choice(self.capacity, size=len(part[0]), replace=False)
            released.append([buf[slots] for buf in self._rows])
            for buf, a in zip(self._rows, part, strict=True):
                buf[slots] = a
        return [np.concatenate(parts) for parts in zip(*released, strict=True)]

    def drain(self) -> list[np.ndarray] | None:
        """Everything still buffered, shuffled (the end of a finite stream)."""
        if self._rows is None or not self._filled:
            return None
        order = self.rng.permutation(self._filled)
        rows, self._rows, self._filled = [b[order] for b in self._rows], None, 0
        return rows


class StoreStream(IterableDataset):
    """An IterableDataset of ready batches from a store (use with ``batch_size=None``).

    Args:
        path: the store.
        batch_size: images per batch.
        seed: seeds the epoch permutations and the shuffle buffer.
        in_memory: read the store into RAM (see :meth:`load`) rather than by chunks.
        shuffle_buffer: images in the chunked reader's shuffle buffer.
        with_factors: also yield the (B, K) factor indices.
        to_rgb: repeat grey images (C = 1) to 3 channels.
        rank, world_size: this process's distributed shard (see :func:`distributed_shard`).
        epochs: stop after this many epochs (the last batch may be short); None: endless.
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
        self._images: np.ndarray | None = None
        self._factors: np.ndarray | None = None

    def load(self) -> None:
        """Read every image (and the factors) into this process's memory."""
        store = open_store(self.path)
        self._images = store.read(0, store.num_images)
        self._factors = store.factors if self.with_factors else None

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        shard = self.rank * num_workers + worker_id
        num_shards = self.world_size * num_workers
        if self.num_images < num_shards:
            raise DataError(f"dataset store {self.path} has {self.num_images} images, fewer "
                            f"than the {num_shards} shards (ranks × workers) reading it")
        rng = np.random.default_rng([self.seed, shard, num_shards])
        rows = self._ram_rows if self.in_memory else self._chunk_rows
        pending: list[list[np.ndarray]] = []
        count = 0
        for block in rows(shard, num_shards, rng):
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

    def _epochs(self) -> Iterator[int]:
        return itertools.count() if self.epochs is None else iter(range(self.epochs))

    def _ram_rows(self, shard: int, num_shards: int,
                  rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
        if self._images is None:
            self.load()
        assert self._images is not None
        for epoch in self._epochs():
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_images)
            mine = order[shard::num_shards]
            for start in range(0, len(mine), self.batch_size):
                rows = mine[start : start + self.batch_size]
                yield self._block(self._images[rows], rows, self._factors)

    def _chunk_rows(self, shard: int, num_shards: int,
                    rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
        store = open_store(self.path)  # this shard's own handle
        factors = store.factors if self.with_factors else None
        # read units: whole chunks, or smaller slices when there are fewer chunks than shards
        unit = self.chunk_images
        if -(-self.num_images // unit) < num_shards:
            unit = -(-self.num_images // num_shards)
        starts = np.arange(0, self.num_images, unit)
        buffer = ShuffleBuffer(self.shuffle_buffer, rng)
        for epoch in self._epochs():
            order = np.random.default_rng([self.seed, epoch]).permutation(len(starts))
            for start in starts[order[shard::num_shards]]:
                stop = min(start + unit, self.num_images)
                block = self._block(store.read(start, stop), np.arange(start, stop), factors)
                released = buffer.push(block)
                if len(released[0]):
                    yield released
        rest = buffer.drain()
        if rest is not None:
            yield rest

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
) -> DataLoader:
    """A DataLoader of training batches from a store (see the module docstring).

    Args:
        store: path of the dataset store.
        batch_size: images per batch, per rank.
        seed: makes the stream reproducible (same seed and shard layout, same batches).
        in_memory: True, False, or "auto" (RAM when the images take ≤ ``memory_limit`` bytes).
        num_workers: DataLoader worker processes; each reads its own disjoint share.
        shuffle_buffer: images mixed by the chunked reader.
        with_factors: yield (images, factors) rather than images.
        to_rgb: repeat grey images to 3 channels.
        rank, world_size: explicit distributed shard; default from torch.distributed.
        epochs: None for an endless stream (training), else stop after that many epochs.
        pin_memory: pin batches for faster host→GPU copies.

    Returns:
        A DataLoader yielding float32 (B, C, H, W) tensors in [-1, 1] (and int64 (B, K)).
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
    return DataLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                      prefetch_factor=4 if num_workers else None)
