"""The training data of a stage: the recipe's store, prepared first when it is missing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from disdiff_core import registry
from disdiff_core.data.loader import make_loader
from disdiff_core.data.store import is_store
from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.distributed import DistContext
from disdiff_core.errors import DataError
from disdiff_core.recipes.model import DataSection


def ensure_store(data: DataSection, context: DistContext, echo: Callable[[str], None]) -> Path:
    """The store path of ``data``; when it does not exist and ``data.prepare`` names a dataset
    plugin, the main process writes it first (the others wait)."""
    store = Path(data.store)
    if is_store(store):
        return store
    if data.prepare is None:
        raise DataError(f"data.store: {store} is not a dataset store and the recipe has no "
                        "data.prepare to create it (see `disdiff data prepare`)")
    if context.is_main:
        assert data.prepare.plugin is not None
        echo(f"preparing {data.prepare.plugin} into {store}")
        dataset = registry.build("dataset", data.prepare.plugin, data.prepare.params)
        dataset.prepare(store, source=Path(data.source) if data.source else None)
    context.barrier()
    return store


def training_batches(
    data: DataSection, store: Path, config: TrainConfig, context: DistContext
) -> Iterator[torch.Tensor]:
    """Endless (B, C, H, W) float batches in [-1, 1], this rank's share of ``train.batch_size``."""
    loader = make_loader(
        store, batch_size=config.micro_batch_size(context.world_size), seed=config.seed,
        in_memory=data.in_memory, num_workers=data.num_workers,
        rank=context.rank, world_size=context.world_size,
        pin_memory=context.device.type == "cuda",
    )
    return iter(loader)


def measurement_batches(data: DataSection, store: Path, batch_size: int) -> Iterator[torch.Tensor]:
    """Batches that are the same on every rank (seed 0, one shard), so that a statistic
    measured from them (the latent scale factor) agrees across processes."""
    return iter(make_loader(store, batch_size=batch_size, seed=0, in_memory=data.in_memory,
                            rank=0, world_size=1))
