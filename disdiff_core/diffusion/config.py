"""The torch-free description of a noise schedule: what a recipe names and a checkpoint stores.

A schedule is fully determined by a small dict such as
``{"kind": "linear_sqrt", "num_timesteps": 1000, "beta_start": 0.0015, "beta_end": 0.0155}``;
:class:`disdiff_core.diffusion.schedule.NoiseSchedule` turns it into tensors.

Kinds (β_t for t = 0 … T−1):

* ``linear_sqrt``: β = linspace(√β_start, √β_end, T)², the schedule of latent diffusion (LDM) and of
  DisDiff (defaults 0.0015 … 0.0155); diffusers calls it ``scaled_linear``.
* ``linear``: β = linspace(β_start, β_end, T), the DDPM schedule (defaults 1e-4 … 0.02).
* ``cosine``: Nichol & Dhariwal (2021): ᾱ(u) = cos²((u + s)/(1 + s)·π/2), β_t = min(1 − ᾱ((t+1)/T)
  / ᾱ(t/T), max_beta) with s = 0.008, max_beta = 0.999 (diffusers: ``squaredcos_cap_v2``).
* ``sigmoid``: β = sigmoid(linspace(−6, 6, T))·(β_end − β_start) + β_start (as diffusers).
* ``custom``: explicit ``betas`` (e.g. a diffusers scheduler's ``trained_betas``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from disdiff_core.plugin import Params

ScheduleKind = Literal["linear_sqrt", "linear", "cosine", "sigmoid", "custom"]

#: Default (β_start, β_end) of the kinds defined by a beta range.
DEFAULT_BETA_RANGE: dict[str, tuple[float, float]] = {
    "linear_sqrt": (0.0015, 0.0155),
    "linear": (1e-4, 0.02),
    "sigmoid": (1e-4, 0.02),
}


class ScheduleConfig(Params):
    """A noise schedule as a small, serialisable description (see the module docstring)."""

    kind: ScheduleKind = Field(
        "linear_sqrt", description="schedule family (linear_sqrt is the LDM/DisDiff schedule)"
    )
    num_timesteps: int = Field(1000, ge=2, description="number of diffusion steps T")
    beta_start: float | None = Field(
        None, gt=0, lt=1, description="β_0 of linear_sqrt/linear/sigmoid (default: per kind)"
    )
    beta_end: float | None = Field(
        None, gt=0, lt=1, description="β_{T-1} of linear_sqrt/linear/sigmoid (default: per kind)"
    )
    cosine_s: float = Field(0.008, ge=0, description="offset s of the cosine schedule")
    max_beta: float = Field(0.999, gt=0, le=1, description="cap on β of the cosine schedule")
    betas: list[float] | None = Field(None, description="explicit betas of a custom schedule")

    @model_validator(mode="before")
    @classmethod
    def _fill_beta_range(cls, data: Any) -> Any:
        """Fill the kind's default beta range, so a stored config always names its range."""
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "linear_sqrt")
        if kind in DEFAULT_BETA_RANGE:
            start, end = DEFAULT_BETA_RANGE[kind]
            data = {**data}
            if data.get("beta_start") is None:
                data["beta_start"] = start
            if data.get("beta_end") is None:
                data["beta_end"] = end
        return data

    @model_validator(mode="after")
    def _check_kind_fields(self) -> ScheduleConfig:
        ranged = self.kind in DEFAULT_BETA_RANGE
        if not ranged and (self.beta_start is not None or self.beta_end is not None):
            raise ValueError(f"beta_start/beta_end do not apply to a {self.kind} schedule")
        if ranged and self.beta_start > self.beta_end:  # type: ignore[operator]
            raise ValueError("beta_start must not exceed beta_end")
        if self.kind == "custom":
            if self.betas is None or len(self.betas) != self.num_timesteps:
                raise ValueError("a custom schedule needs `betas` with num_timesteps values")
            if not all(0 < b < 1 for b in self.betas):
                raise ValueError("custom betas must lie in (0, 1)")
        elif self.betas is not None:
            raise ValueError(f"`betas` only applies to a custom schedule, not {self.kind}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The fields that define this kind of schedule (small; what a checkpoint stores)."""
        keep = {"kind", "num_timesteps"}
        if self.kind in DEFAULT_BETA_RANGE:
            keep |= {"beta_start", "beta_end"}
        elif self.kind == "cosine":
            keep |= {"cosine_s", "max_beta"}
        else:
            keep |= {"betas"}
        return self.model_dump(include=keep)
