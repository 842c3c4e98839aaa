"""Processes and devices: a single process, or DDP under ``torchrun``.

``torchrun`` (``python -m torch.distributed.run``) starts one process per GPU and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` (and the rendezvous address). :func:`setup_distributed` reads
them, joins the process group (NCCL on CUDA, gloo on CPU) and picks the device: ``cuda:LOCAL_RANK``
when CUDA is present, the CPU otherwise. Without those variables (or with ``WORLD_SIZE=1``) it
is a plain single process and nothing is initialised.

A stage calls it BEFORE building its data loader and frozen models, so that both know the rank,
the world size (the loader reads them from ``torch.distributed``) and the device.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs, checkpoints and writes run files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""
        if self.is_distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (``[obj]`` in a single process). Objects travel
        pickled between live processes only; nothing pickled is written to disk."""
        if not self.is_distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def environment(self) -> dict[str, Any]:
        """What a training ran on, kept in ``run.json``: a seed fixes a run only on the same
        software, device and CPU thread count (a different thread count sums in another order,
        and a diffusion training drifts from that rounding to other weights and scores)."""
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return {"torch": torch.__version__, "python": platform.python_version(),
                "device": device, "processes": self.world_size,
                "cpu_threads": torch.get_num_threads()}

    def any_true(self, flag: torch.Tensor) -> torch.Tensor:
        """Logical OR of a boolean tensor over all ranks, so every rank takes the same branch
        (e.g. all skip a step whose loss was non-finite on any rank)."""
        if not self.is_distributed:
            return flag
        as_float = flag.to(torch.float32)
        dist.all_reduce(as_float, op=dist.ReduceOp.MAX)
        return as_float > 0


def select_device(device: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """The requested device, else ``cuda:local_rank`` when CUDA is available, else the CPU."""
    if device is not None:
        chosen = torch.device(device)
        if chosen.type == "cuda" and chosen.index is None:
            chosen = torch.device("cuda", local_rank)
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def setup_distributed(device: str | torch.device | None = None) -> DistContext:
    """Join the process group when started by torchrun and return this process's context.

    Idempotent: if the group is already initialised (by an earlier call or by the caller),
    rank and world size are read from it.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = _env_int("LOCAL_RANK", rank)
        return DistContext(rank, world_size, local_rank, select_device(device, local_rank))
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    chosen = select_device(device, local_rank)
    if world_size > 1:
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank, chosen)


def shutdown_distributed() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_session(device: str | torch.device | None = None) -> Iterator[DistContext]:
    """``setup_distributed`` for the duration of a ``with`` block; the group is left on exit."""
    context = setup_distributed(device)
    try:
        yield context
    finally:
        if context.is_distributed:
            shutdown_distributed()
