"""The ``train:`` section of a recipe (torch-free).

Defaults are the reference DisDiff/LDM settings: AdamW with default betas and weight decay 0.01,
lr 2.56e-4 (= 2e-6 × batch 128) with a 10k-step linear warm-up, and an EMA of 0.9999 whose decay
ramps up as the reference ``LitEma`` does. ``steps`` has no default: a forgotten limit should not
silently mean "train forever".
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from typing import Literal

from pydantic import Field, NonNegativeFloat, model_validator

from disdiff_core.errors import RecipeError
from disdiff_core.plugin import Params

Precision = Literal["auto", "fp32", "bf16"]
LoggerName = Literal["jsonl", "tensorboard"]


class TrainConfig(Params):
    """Optimisation, EMA, precision, logging and checkpoint settings of one training stage."""

    steps: int | None = Field(
        ...,
        ge=1,
        description="total optimiser steps of the run (skipped non-finite steps do not count); "
        "null: no limit, train until interrupted (the reference's behaviour)",
    )
    time_limit_s: float | None = Field(
        None,
        gt=0,
        description="stop after this many seconds of training (wall clock from the start or "
        "resume of this process) as if the last step had been reached: logs, end hooks, a "
        "checkpoint and the weights are written and the run is finished, with the step it "
        "reached in run.json (time_limit_reached); for a job's wall-time limit or a fixed-time "
        "comparison. null: no limit",
    )
    batch_size: int = Field(
        128,
        ge=1,
        description="images per optimiser step over all processes and accumulation micro-steps; "
        "each process loads batch_size / (world_size · grad_accum) per micro-step",
    )
    lr: float = Field(2.56e-4, gt=0, description="peak learning rate of AdamW (after warm-up)")
    warmup_steps: int = Field(
        10_000,
        ge=0,
        description="linear warm-up: the update of step s (0-based) uses lr·min(1, (s+1)/warmup); "
        "0: constant lr",
    )
    lr_scale: dict[str, NonNegativeFloat] = Field(
        default_factory=dict,
        description="per-part learning rate: {name: factor} multiplies lr (after warm-up) for "
        "the parameters of the trained module's child ``name`` (e.g. {encoder: 0.1} in the "
        "disdiff stage, whose parts are encoder and field); parts not named keep lr",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW (β1, β2)")
    grad_accum: int = Field(
        1, ge=1, description="gradient accumulation: micro-batches summed into one optimiser step"
    )
    grad_clip: float | None = Field(
        None, gt=0, description="clip the global gradient L2 norm to this value (null: off)"
    )
    ema_decay: float | None = Field(
        0.9999, gt=0, lt=1, description="decay of the EMA of the trained weights (null: no EMA)"
    )
    ema_start: int = Field(
        0, ge=0, description="the EMA copies the weights until this many steps are done, "
        "then averages them"
    )
    ema_warmup: bool = Field(
        True,
        description="ramp the EMA decay as min(ema_decay, (1+n)/(10+n)) over its n-th update, "
        "as the reference LitEma does (false: constant ema_decay)",
    )
    precision: Precision = Field(
        "auto",
        description="auto: bf16 autocast on CUDA and fp32 on CPU; fp32: no autocast; "
        "bf16: bf16 autocast on any device (weights and optimiser stay fp32)",
    )
    compile: bool = Field(False, description="compile the training step with torch.compile")
    log_every: int = Field(
        100, ge=1, description="log the mean loss terms, lr and steps/s every N steps"
    )
    checkpoint_every: int | None = Field(
        5000, ge=1, description="write a resumable checkpoint every N steps (null: only at the end)"
    )
    keep_checkpoints: int = Field(
        3, ge=1, description="how many of the newest checkpoints to keep on disk"
    )
    sample_every: int | None = Field(
        None, ge=1, description="run the stage's sample-grid hook every N steps (null: off)"
    )
    eval_every: int | None = Field(
        None, ge=1, description="run the stage's evaluation hook every N steps (null: off)"
    )
    seed: int = Field(
        0, description="seed of the training random streams (noise, timesteps; rank r uses seed+r)"
    )
    nan_guard: int | None = Field(
        10,
        ge=1,
        description="skip an optimiser step whose loss or gradient norm is not finite, and stop "
        "with an error after this many consecutive skips (null: no check, no device sync)",
    )

    loggers: list[LoggerName] = Field(
        default_factory=lambda: ["jsonl"],
        description="where metrics go: jsonl (RUN/metrics.jsonl, always on: `runs report` reads "
        "it) and optionally tensorboard (scalars and image grids in RUN/tensorboard; needs the "
        "disdiff[tensorboard] extra)",
    )

    @model_validator(mode="after")
    def _loggers_available(self) -> TrainConfig:
        if "jsonl" not in self.loggers:
            raise ValueError("train.loggers must include jsonl: metrics.jsonl is the run's record "
                             "that `disdiff runs report` reads")
        # Checked here, so that a recipe fails when it is read, not when training starts.
        if "tensorboard" in self.loggers and importlib.util.find_spec("tensorboard") is None:
            raise ValueError("train.loggers: tensorboard needs the tensorboard package; install "
                             "it with: pip install 'disdiff[tensorboard]'")
        return self

    @model_validator(mode="after")
    def _accumulation_divides_batch(self) -> TrainConfig:
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}"
            )
        return self

    def micro_batch_size(self, world_size: int = 1) -> int:
        """Images each process loads per micro-step: batch_size / (world_size · grad_accum)."""
        share = world_size * self.grad_accum
        if self.batch_size % share:
            raise RecipeError(
                f"train.batch_size {self.batch_size} is not divisible by world_size {world_size} "
                f"× train.grad_accum {self.grad_accum}"
            )
        return self.batch_size // share

    def config_hash(self) -> str:
        """A short, stable fingerprint of the settings (stored with every checkpoint)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
