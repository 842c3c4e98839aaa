"""The one training loop of every stage.

A stage hands the :class:`Trainer`:

* ``module``: an ``nn.Module`` containing everything that trains (frozen parts live outside it
  or have ``requires_grad=False``). It is moved to the trainer's device; AdamW optimises its
  parameters that require a gradient; the EMA follows them and its buffers.
* ``step_fn(batch) -> {"loss": scalar, ...}``: one micro-batch's forward pass and loss terms;
  with ``pass_step=True`` it is called ``step_fn(batch, step)``, ``step`` being the number of
  optimiser steps already made (for losses that depend on it, such as a warm-up weight).
  Every entry is a scalar tensor; ``loss`` is what is minimised, the others (``rec``, ``dis``,
  ``w`` …) are logged as separate numbers. The step function closes over ``module`` (and the
  frozen parts); the trainer runs it as the forward of a thin wrapper module, so DDP syncs the
  gradients and ``torch.compile`` sees the whole step.
* ``data``: an infinite iterator of batches (tensors, or dicts/lists/tuples of tensors, moved to
  the device by the trainer). For exact resume it may offer the data-state protocol:
  ``state_dict() -> dict`` (JSON values and tensors) and ``load_state_dict(dict)``, describing
  the position such that the batch after a restore is the one that would have come next
  (``ValueError`` when the state does not fit; the data order then restarts). The store
  loaders of :mod:`disdiff_core.data.loader` offer it. Under DDP each rank passes its own share.
* ``config`` (:class:`TrainConfig`) and ``run`` (:class:`disdiff_core.runs.Run`).
* ``hooks``: :class:`Hook` callables run every N steps (sample grids, evaluation).

One optimiser step = ``grad_accum`` micro-batches (each loss divided by ``grad_accum``),
optional gradient clipping, a non-finite check, AdamW with the warm-up lr, then the EMA.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from disdiff_core.engine import checkpoint as ckpt
from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.distributed import DistContext, select_device, setup_distributed
from disdiff_core.engine.ema import EMA
from disdiff_core.engine.loggers import MetricsLogger, open_loggers
from disdiff_core.engine.progress import Progress, SilentProgress, format_metrics, make_progress
from disdiff_core.engine.rng import capture_rng, isolated_rng, restore_rng, seed_everything
from disdiff_core.engine.schedule import warmup_lr
from disdiff_core.errors import RunError
from disdiff_core.runs import Run

StepFn = Callable[[Any], Mapping[str, torch.Tensor]]
#: A step function told the optimiser step too (``pass_step=True``).
SteppedStepFn = Callable[[Any, int], Mapping[str, torch.Tensor]]


class NonFiniteLossError(RunError):
    """Training stopped after too many consecutive non-finite losses or gradient norms."""


@dataclass(frozen=True)
class Hook:
    """A callable run with the trainer every ``every`` steps and, if ``at_end``, after the
    last step.

    Hooks run on every rank (write files only when ``trainer.is_main``), under
    ``torch.no_grad()`` (use ``torch.enable_grad()`` inside if needed), with the global random
    streams restored afterwards, so sampling does not change the training trajectory; the
    train/eval mode of every submodule is restored too. Use ``trainer.module`` (not wrapped by
    DDP) and ``trainer.ema_module()``. A hook may return a mapping of numbers, logged to the
    metrics as ``<name>/<key>``.
    """

    name: str
    every: int | None
    fn: Callable[[Trainer], Mapping[str, float] | None]
    at_end: bool = True


class _StepModule(nn.Module):
    """The step function as the forward of a module that holds the trained module: DDP only
    syncs gradients of parameters used inside its wrapped forward."""

    def __init__(self, trained: nn.Module, step_fn: StepFn | SteppedStepFn, pass_step: bool):
        super().__init__()
        self.trained = trained
        self.step_fn = step_fn
        self.pass_step = pass_step

    def forward(self, batch: Any, step: int) -> Mapping[str, torch.Tensor]:
        if self.pass_step:
            return self.step_fn(batch, step)  # type: ignore[call-arg]
        return self.step_fn(batch)  # type: ignore[call-arg]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a batch (nested dicts/lists/tuples) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def _param_groups(module: nn.Module, lr_scale: Mapping[str, float]) -> list[dict[str, Any]]:
    """The trainable parameters in one optimiser group per learning-rate factor: a parameter
    of child ``name`` (``module.<name>``) gets ``lr_scale[name]``, every other one 1."""
    children = dict(module.named_children())
    unknown = sorted(set(lr_scale) - set(children))
    if unknown:
        raise RunError(f"train.lr_scale names {', '.join(unknown)}, which the trained module "
                       f"does not have; its parts are {', '.join(children) or 'none'}")
    groups: dict[float, list[nn.Parameter]] = {}
    for name, param in module.named_parameters():
        if param.requires_grad:
            groups.setdefault(lr_scale.get(name.split(".", 1)[0], 1.0), []).append(param)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


class Trainer:
    """Train ``module`` with ``step_fn`` on ``data`` as ``config`` says, recording into ``run``.

    Args:
        module, step_fn, data, config, run, hooks: see the module docstring.
        device: force a device (default: the distributed context's, CUDA when present).
        context: the process's :class:`DistContext` (default: :func:`setup_distributed`, which
            joins the process group under torchrun).
        find_unused_parameters: passed to DDP, for steps that leave some parameters unused.
        pass_step: call ``step_fn(batch, step)`` (see the module docstring).
        stream: where progress goes (default stdout; a live bar when it is a terminal).
    """

    def __init__(
        self,
        module: nn.Module,
        step_fn: StepFn | SteppedStepFn,
        data: Iterator[Any],
        config: TrainConfig,
        run: Run,
        *,
        hooks: Sequence[Hook] = (),
        device: str | torch.device | None = None,
        context: DistContext | None = None,
        find_unused_parameters: bool = False,
        pass_step: bool = False,
        stream: IO[str] | None = None,
    ):
        self.config = config
        self.run = run
        self.data = data
        self.hooks = list(hooks)
        self.context = context or setup_distributed(device)
        self.device = (select_device(device, self.context.local_rank) if device is not None
                       else self.context.device)
        self.module = module.to(self.device)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        if not self.params:
            raise RunError("nothing to train: no parameter of the trained module requires grad")
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.module, config.lr_scale), lr=config.lr, betas=config.betas,
            weight_decay=config.weight_decay, fused=self.device.type == "cuda",
        )
        self.ema = (EMA(self.module, config.ema_decay, start=config.ema_start,
                        warmup=config.ema_warmup) if config.ema_decay is not None else None)
        self.step = 0
        self.skipped = 0
        self.consecutive_skips = 0
        self.last_metrics: dict[str, float] = {}
        self._stream = stream
        self._progress: Progress = SilentProgress()
        self._loggers: list[MetricsLogger] = []
        self._bf16 = config.precision == "bf16" or (
            config.precision == "auto" and self.device.type == "cuda")
        self._ddp: nn.parallel.DistributedDataParallel | None = None
        self._forward = self._wrap(_StepModule(self.module, step_fn, pass_step),
                                   find_unused_parameters)
        self._interval = _Interval()
        seed_everything(config.seed + self.context.rank)

    # -- set-up --------------------------------------------------------------------------
    def _wrap(self, wrapped: nn.Module, find_unused_parameters: bool) -> nn.Module:
        if self.context.is_distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = nn.parallel.DistributedDataParallel(
                wrapped, device_ids=device_ids, find_unused_parameters=find_unused_parameters)
            wrapped = self._ddp
        if self.config.compile:
            wrapped = torch.compile(wrapped)
        return wrapped

    @property
    def is_main(self) -> bool:
        return self.context.is_main

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        return warmup_lr(self.step, self.config.lr, self.config.warmup_steps)

    def ema_module(self) -> contextlib.AbstractContextManager[nn.Module]:
        """``with trainer.ema_module() as m:`` evaluates with the EMA weights swapped into
        ``trainer.module`` (the live weights come back on exit); without EMA, the module as is."""
        if self.ema is None:
            return contextlib.nullcontext(self.module)
        return self.ema.swapped_in()

    # -- the loop --------------------------------------------------------------------------
    def fit(self, resume: bool | str | Path = False) -> None:
        """Train until ``config.steps`` optimiser steps are done (forever if None), or until
        ``config.time_limit_s`` has passed.

        ``resume``: True continues from the run's latest checkpoint (from step 0 if there is
        none), a path continues from that checkpoint folder. The main process logs to the
        ``train.loggers``, opened at the step training starts from.
        """
        total = self.config.steps
        stopped_at: int | None = None  # the step at which the time limit stopped training
        self._progress = make_progress(is_main=self.is_main, total=total, stream=self._stream)
        try:
            with self._progress, contextlib.ExitStack() as cleanup:
                if resume:
                    self.load_checkpoint(None if resume is True else Path(resume))
                if self.is_main:
                    self._loggers = open_loggers(self.config.loggers, self.run, self.step)
                    cleanup.callback(self._close_loggers)
                self._set_status("running", error=None, time_limit_reached=None)
                self._progress.advance(self.step)
                self._interval.restart(self.step)
                deadline = self._deadline()
                while total is None or self.step < total:
                    if self._optimizer_step():
                        out_of_time = self._past(deadline)
                        self._after_step(final=self.step == total or out_of_time)
                        if out_of_time:
                            stopped_at = self.step
                            break
        except KeyboardInterrupt:
            self._set_status("interrupted")
            raise
        except BaseException as exc:
            self._set_status("failed", error=str(exc))
            raise
        self._set_status("finished", time_limit_reached=stopped_at)

    def _deadline(self) -> float | None:
        limit = self.config.time_limit_s
        return None if limit is None else time.monotonic() + limit

    def _past(self, deadline: float | None) -> bool:
        """Whether the time limit is reached; decided together so every rank stops at the same
        step (one scalar all-reduce per step under DDP; a single process needs no device
        sync)."""
        if deadline is None:
            return False
        late = time.monotonic() >= deadline
        if not self.context.is_distributed:
            return late
        return bool(self.context.any_true(torch.tensor(late, device=self.device)))

    def _close_loggers(self) -> None:
        for logger in self._loggers:
            logger.close()
        self._loggers = []

    def _set_status(self, status: str, **extra: Any) -> None:
        if self.is_main:
            self.run.update(status=status, step=self.step, **extra)

    def _sync_context(self, last_micro_step: bool) -> contextlib.AbstractContextManager[Any]:
        if self._ddp is None or last_micro_step:
            return contextlib.nullcontext()
        return self._ddp.no_sync()

    def _next_batch(self) -> Any:
        try:
            return to_device(next(self.data), self.device)
        except StopIteration:
            raise RunError(f"the data iterator ended at step {self.step}; the trainer needs an "
                           "infinite iterator") from None

    def _optimizer_step(self) -> bool:
        """One optimiser step; False when it was skipped for a non-finite loss or gradient."""
        accum = self.config.grad_accum
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * group["lr_scale"]
        terms: dict[str, torch.Tensor] = {}
        for micro in range(accum):
            batch = self._next_batch()
            with self._sync_context(micro == accum - 1):
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._bf16):
                    out = self._forward(batch, self.step)
                if "loss" not in out:
                    raise KeyError("the step function must return a 'loss' entry")
                (out["loss"] / accum).backward()
            for name, value in out.items():
                if not isinstance(value, torch.Tensor) or value.ndim != 0:
                    raise ValueError(f"step function entry {name!r} must be a scalar tensor")
                value = value.detach().float()
                terms[name] = terms[name] + value if name in terms else value
        terms = {name: value / accum for name, value in terms.items()}
        grad_norm = None
        if self.config.grad_clip is not None:
            grad_norm = nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
            terms["grad_norm"] = grad_norm.detach().float()
        if self.config.nan_guard is not None and self._non_finite(terms["loss"], grad_norm):
            self._skip(terms)
            return False
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.consecutive_skips = 0
        if self.ema is not None:
            self.ema.update(self.step)
        self._interval.add(terms)
        return True

    def _non_finite(self, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
        """Whether any rank saw a non-finite loss or gradient norm (one device sync)."""
        bad = ~torch.isfinite(loss)
        if grad_norm is not None:
            bad = bad | ~torch.isfinite(grad_norm)
        return bool(self.context.any_true(bad).item())

    def _skip(self, terms: Mapping[str, torch.Tensor]) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.skipped += 1
        self.consecutive_skips += 1
        values = format_metrics({name: float(value) for name, value in terms.items()})
        limit = self.config.nan_guard
        if self.consecutive_skips >= limit:
            raise NonFiniteLossError(
                f"training stopped at step {self.step}: the loss or gradient norm was not finite "
                f"for {limit} consecutive steps ({values}). Lower train.lr, set "
                f"train.grad_clip, or check the data; checkpoints are in "
                f"{self.run.checkpoints_dir}")
        self._progress.message(f"step {self.step + 1}: non-finite ({values}), skipped "
                               f"({self.consecutive_skips}/{limit} in a row)")

    def _after_step(self, *, final: bool) -> None:
        config = self.config
        self._progress.advance(self.step)
        if self.step % config.log_every == 0 or final:
            self._log()
        for hook in self.hooks:
            if (hook.every and self.step % hook.every == 0) or (final and hook.at_end):
                self._run_hook(hook)
        if (config.checkpoint_every and self.step % config.checkpoint_every == 0) or final:
            self.save_checkpoint()

    def _log(self) -> None:
        means, steps_per_s = self._interval.summary(self.step, self.context)
        last_lr = warmup_lr(self.step - 1, self.config.lr, self.config.warmup_steps)
        values = {**means, "lr": last_lr, "steps_per_s": steps_per_s}
        if self.skipped:
            values["skipped"] = float(self.skipped)
        self.last_metrics = values
        for logger in self._loggers:
            logger.log_scalars(self.step, values)
        if self.is_main:
            self.run.update(step=self.step)
        self._progress.log(self.step, values)

    def _run_hook(self, hook: Hook) -> None:
        modes = {module: module.training for module in self.module.modules()}
        with isolated_rng(self.device), torch.no_grad():
            result = hook.fn(self)
        for module, training in modes.items():
            module.training = training
        for logger in self._loggers:
            if result:
                logger.log_scalars(self.step, {f"{hook.name}/{key}": value
                                               for key, value in result.items()})
            logger.log_images(self.step)

    # -- checkpoints -----------------------------------------------------------------------
    def _data_state(self) -> Any:
        state_dict = getattr(self.data, "state_dict", None)
        return state_dict() if callable(state_dict) else None

    def save_checkpoint(self) -> Path | None:
        """Write a resumable checkpoint of the current step (every rank must call this: it
        gathers every rank's RNG and data state). Returns its folder on rank 0."""
        rank_state = {"rng": capture_rng(self.device), "data": self._data_state()}
        rank_states = self.context.all_gather_object(rank_state)
        path = None
        if self.is_main:
            state = {
                "step": self.step,
                "skipped": self.skipped,
                "consecutive_skips": self.consecutive_skips,
                "world_size": self.context.world_size,
                "config": self.config.model_dump(mode="json"),
                "config_hash": self.config.config_hash(),
                "ema_num_updates": self.ema.num_updates if self.ema is not None else None,
                "optimizer": ckpt.optimizer_state_to_tree(self.optimizer.state_dict()),
                "ranks": rank_states,
            }
            path = ckpt.write_checkpoint(
                self.run.checkpoints_dir, self.step, model=self.module.state_dict(),
                ema=self.ema.state_tensors() if self.ema is not None else None,
                state=state, keep=self.config.keep_checkpoints)
            self.run.update(step=self.step, checkpoint=path.name)
        self.context.barrier()
        return path

    def load_checkpoint(self, path: Path | None = None) -> None:
        """Restore weights, EMA, optimiser, step, RNG and data position from a checkpoint
        folder (default: the run's latest; none there means starting from step 0). Every
        rank reads the files (a shared file system under multi-node DDP)."""
        path = path or ckpt.latest_checkpoint(self.run.checkpoints_dir)
        if path is None:
            self._progress.message(f"no checkpoint in {self.run.checkpoints_dir} yet; "
                                   "starting from step 0")
            return
        loaded = ckpt.read_checkpoint(path)
        state = loaded.state
        self._load_into(lambda: self.module.load_state_dict(loaded.model),
                        loaded.file(ckpt.MODEL_FILE))
        self._load_into(lambda: self.optimizer.load_state_dict(ckpt.optimizer_state_from_tree(
            state["optimizer"], self.optimizer.param_groups)), loaded.file(ckpt.STATE_FILE))
        if self.ema is not None and loaded.ema is not None:
            self._load_into(lambda: self.ema.load_state_tensors(loaded.ema),
                            loaded.file(ckpt.EMA_FILE))
            self.ema.num_updates = int(state["ema_num_updates"] or 0)
        elif self.ema is not None:
            self.ema.reset()
            self._progress.message(f"{loaded.path} has no EMA; the EMA starts from its weights")
        self.step = int(state["step"])
        self.skipped = int(state["skipped"])
        self.consecutive_skips = int(state["consecutive_skips"])
        self._restore_rank_state(state["ranks"], loaded.path)
        changed = sorted(key for key, value in self.config.model_dump(mode="json").items()
                         if state["config"].get(key) != value)
        note = f" (train settings changed: {', '.join(changed)})" if changed else ""
        self._progress.message(f"resumed from {loaded.path} at step {self.step}{note}")

    @staticmethod
    def _load_into(load: Callable[[], Any], source: Path) -> None:
        try:
            load()
        except (RuntimeError, KeyError, ValueError) as exc:
            raise RunError(f"checkpoint file {source} does not fit this training: {exc}") from None

    def _restore_rank_state(self, ranks: list[dict[str, Any]], path: Path) -> None:
        rank = self.context.rank
        if rank >= len(ranks):
            self._progress.message(f"checkpoint {path} was written by {len(ranks)} processes; "
                                   f"rank {rank} starts fresh random streams and data order")
            return
        restore_rng(ranks[rank]["rng"], self.device)
        data_state = ranks[rank]["data"]
        load_state_dict = getattr(self.data, "load_state_dict", None)
        if data_state is None or not callable(load_state_dict):
            self._progress.message("the data iterator has no saved position; data order restarts")
            return
        try:
            load_state_dict(data_state)
        except ValueError as exc:
            self._progress.message(f"the saved data position does not fit this data iterator "
                                   f"({exc}); data order restarts")


class _Interval:
    """Sums of the logged terms since the last log line, kept on the device (no sync per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.start_step = 0
        self.start_time = time.perf_counter()

    def restart(self, step: int) -> None:
        self.sums, self.count = {}, 0
        self.start_step, self.start_time = step, time.perf_counter()

    def add(self, terms: Mapping[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += 1

    def summary(self, step: int, context: DistContext) -> tuple[dict[str, float], float]:
        """Mean of each term over the interval and over ranks, and optimiser steps per second;
        then restart. Every rank must call it (one all-reduce under DDP)."""
        names = sorted(self.sums)
        means: dict[str, float] = {}
        if names:
            stacked = torch.stack([self.sums[name] for name in names]) / max(self.count, 1)
            if context.is_distributed:
                torch.distributed.all_reduce(stacked)
                stacked /= context.world_size
            means = dict(zip(names, stacked.tolist(), strict=True))
            means = {"loss": means.pop("loss"), **means} if "loss" in means else means
        elapsed = time.perf_counter() - self.start_time
        steps_per_s = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        self.restart(step)
        return means, steps_per_s
