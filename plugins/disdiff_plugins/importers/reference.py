"""The ``reference`` importer: checkpoints of the DisDiff reference code (and of the
latent-diffusion code it builds on) as disdiff runs.

What the checkpoint holds is told by its config (:mod:`.ldm_config`): an autoencoder alone, a
backbone (with its autoencoder), or a whole DisDiff model. Each part is built with this toolkit's
plugins, loaded from the checkpoint through the name and layout mapping of :mod:`.ldm_weights`
(strictly: every tensor of the part must be there and fit, and every tensor of the checkpoint
must be used or known to be derived, e.g. the diffusion schedule buffers, which are checked
against the config's schedule instead), and written as a finished run.

Unpickling is code execution, so the file is read with ``torch.load(weights_only=True)``: files
written by the reference code hold only tensors and plain values and load this way; a file that
needs more is refused with the reason.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from disdiff_core import registry
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.importer import CheckpointImporter, Progress
from disdiff_core.recipes.yaml_io import read_yaml
from disdiff_core.stages.imported import write_imported_run
from disdiff_plugins.importers import ldm_weights as names
from disdiff_plugins.importers.ldm_config import ReferenceModel, read_model_section
from disdiff_plugins.importers.specs import ReferenceImportParams

#: Buffers of the reference's diffusion wrapper that the toolkit derives from the config.
SCHEDULE_BUFFERS = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2", "lvlb_weights", "logvar", "shift_coef",
    "ddim_coef", "cond_ids",
}
#: Other entries that carry nothing the imported runs need.
DERIVED = {"model.diffusion_model.scale_factor", "model_ema.decay", "model_ema.num_updates"}
EMA_PREFIX = "model_ema."


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], int]:
    """The state dict and global step of a reference checkpoint, read without unpickling code."""
    if not path.is_file():
        raise DisdiffError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:
            raise DisdiffError(f"cannot read checkpoint {path}: not a torch checkpoint, or "
                               "damaged") from None
        raise DisdiffError(
            f"checkpoint {path} holds an object of class {found.group(1)} besides tensors and plain "
            "values; unpickling it would run code from the file, so it is refused (re-save the "
            "state dict alone: torch.save({'state_dict': sd}, path))"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any other failure means an unreadable file
        raise DisdiffError(f"cannot read checkpoint {path}: {exc}") from None
    state = data.get("state_dict", data) if isinstance(data, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise DisdiffError(f"checkpoint {path} holds no state dict of tensors")
    step = data.get("global_step", 0) if isinstance(data, Mapping) else 0
    return dict(state), int(step) if isinstance(step, int) else 0


def with_ema_weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The reference's EMA weights in place of the raw ones, when the checkpoint has them.

    LitEma stores ``model.X.Y`` as ``model_ema.XY`` (dots removed). The reference's own
    "load EMA" switch is inverted (it loads the raw weights); here EMA means EMA."""
    ema = {key[len(EMA_PREFIX):]: value for key, value in state.items()
           if key.startswith(EMA_PREFIX)}
    if not ema:
        return state
    out = dict(state)
    for key in state:
        if key.startswith("model.") and (flat := key[len("model."):].replace(".", "")) in ema:
            out[key] = ema[flat]
    return out


class ReferenceImporter(CheckpointImporter):
    """See the module docstring."""

    params: ReferenceImportParams

    def import_checkpoint(
        self,
        checkpoint: Path,
        out: Path,
        *,
        config: Path | None,
        data_store: str,
        progress: Progress,
    ) -> dict[str, Path]:
        if not checkpoint.is_file():  # the file named first is checked first
            raise DisdiffError(f"checkpoint {checkpoint} does not exist")
        if config is None:
            raise DisdiffError("the reference importer needs the model's config (--config): "
                               "the checkpoint alone does not say which sizes built it")
        if not config.is_file():
            raise DisdiffError(f"--config: config file {config} does not exist")
        model = read_model_section(read_yaml(config))
        state, step = read_checkpoint(checkpoint)
        if self.params.use_ema:
            state = with_ema_weights(state)
        progress(f"{checkpoint}: a reference {model.kind} checkpoint at step {step}, "
                 f"{len(state)} tensors")
        parts = _Parts(model, state, str(checkpoint))
        parts.check_all_used()
        writer = _RunWriter(out, model, data_store, step, str(checkpoint), progress)
        return writer.write(parts)


class _Parts:
    """The toolkit components of a reference model, with the checkpoint's weights loaded."""

    def __init__(self, model: ReferenceModel, state: dict[str, Tensor], source: str) -> None:
        self.state, self.source = state, source
        self.used: set[str] = set()
        legacy = model.legacy_attention
        self.first_stage = registry.build("first_stage", model.first_stage["plugin"],
                                          model.first_stage["params"])
        if model.first_stage["plugin"] != "identity":
            prefix = "" if model.kind == "autoencoder" else names.FIRST_STAGE
            self._load(self.first_stage, names.first_stage_map(self.first_stage, prefix),
                       optional={"scale_factor"})
        self.backbone = self.encoder = self.field = None
        if model.backbone is not None:
            self.backbone = registry.build("backbone", "unet", model.backbone["params"])
            self._load(self.backbone, names.unet_backbone_map(self.backbone,
                                                              legacy_attention=legacy))
            self._check_schedule(self.backbone.schedule)
        if model.encoder is not None and model.field is not None:
            self.encoder = registry.build("encoder", model.encoder["plugin"],
                                          model.encoder["params"])
            self._load(self.encoder, names.conv4_encoder_map(self.encoder))
            encoder_params = model.encoder["params"]
            self.field = registry.build(
                "field", model.field["plugin"], model.field["params"], backbone=self.backbone,
                num_factors=encoder_params["num_factors"],
                factor_dim=encoder_params["factor_dim"])
            self._load(self.field, names.shift_field_map(self.field, legacy_attention=legacy))

    def _load(self, module: nn.Module, maps: list[names.KeyMap],
              optional: set[str] = frozenset()) -> None:
        tensors = names.to_toolkit(maps, self.state, self.source, optional=optional)
        try:
            module.load_state_dict(tensors, strict=not optional)
        except RuntimeError as exc:
            raise DisdiffError(f"{self.source} does not fit the sizes its config names: "
                               f"{str(exc).splitlines()[-1].strip()}") from None
        self.used.update(m.reference for m in maps)

    def _check_schedule(self, schedule: nn.Module) -> None:
        """The checkpoint's stored betas (when present) must be the config's schedule."""
        betas = self.state.get("betas")
        if betas is not None and not torch.allclose(betas.float(), schedule.betas, rtol=1e-5):
            raise DisdiffError(f"{self.source}: its stored betas are not the schedule its "
                               "config names (linear_start / linear_end / timesteps)")

    def check_all_used(self) -> None:
        """Every tensor is loaded, derived or an EMA copy; anything else is named."""
        left = sorted(key for key in self.state
                      if key not in self.used and key not in SCHEDULE_BUFFERS | DERIVED
                      and not key.startswith(EMA_PREFIX)
                      and not key.startswith(names.FIRST_STAGE + "loss.")
                      and not key.startswith("loss."))
        if left:
            more = f" and {len(left) - 8} more" if len(left) > 8 else ""
            raise DisdiffError(f"{self.source} holds tensors the toolkit's model has no place "
                               f"for: {left[:8]}{more}")


class _RunWriter:
    """Writes ``OUT/first_stage``, ``OUT/backbone`` and ``OUT/disdiff`` as a chain of runs."""

    def __init__(self, out: Path, model: ReferenceModel, data_store: str, step: int,
                 source: str, progress: Progress) -> None:
        self.out, self.model, self.step, self.source = out, model, step, source
        self.progress = progress
        self.base: dict[str, Any] = {"data": {"store": data_store}}

    def write(self, parts: _Parts) -> dict[str, Path]:
        runs: dict[str, Path] = {}
        model = self.model
        first_stage: dict[str, Any] = model.first_stage
        if model.first_stage["plugin"] != "identity":
            runs["first_stage"] = self._run("first_stage", {
                "stage": "first_stage", "first_stage": model.first_stage,
                "train": self._train()}, {"first_stage": parts.first_stage})
            first_stage = {"from_run": str(runs["first_stage"])}
        if parts.backbone is not None and model.backbone is not None:
            loss_type = model.losses[0]["params"]["loss_type"] if model.losses else "l1"
            runs["backbone"] = self._run("backbone", {
                "stage": "backbone", "first_stage": first_stage, "backbone": model.backbone,
                "losses": [{"plugin": "denoise", "params": {"loss_type": loss_type}}],
                "train": self._train()}, {"backbone": parts.backbone,
                                          "first_stage": parts.first_stage})
        if parts.encoder is not None and parts.field is not None:
            backbone_run = str(runs["backbone"])
            runs["disdiff"] = self._run("disdiff", {
                "stage": "disdiff", "backbone": {"from_run": backbone_run},
                "first_stage": {"from_run": backbone_run}, "encoder": model.encoder,
                "field": model.field, "losses": model.losses, "train": self._train(),
                "sample": {"sampler": {"plugin": "ddim",
                                       "params": {"steps": 200, "eta": 1.0, "spacing": "ldm"}}},
            }, {"encoder": parts.encoder, "field": parts.field})
        return runs

    def _train(self) -> dict[str, Any]:
        """The reference's optimiser settings: lr = base_learning_rate × batch (its scale_lr
        rule, one GPU) and its warm-up; the run ends at the checkpoint's step."""
        train: dict[str, Any] = {"steps": max(self.step, 1),
                                 "warmup_steps": self.model.warmup_steps}
        if self.model.base_lr is not None:
            from disdiff_core.engine.config import TrainConfig

            batch = TrainConfig.model_fields["batch_size"].default
            train["lr"] = float(self.model.base_lr) * batch
        return train

    def _run(self, stage: str, recipe: dict[str, Any], weights: dict[str, nn.Module]) -> Path:
        path = self.out / stage
        recipe = {"name": f"{self.out.name}-{stage}".replace("_", "-"),
                  "description": f"imported from the reference checkpoint {self.source}",
                  **self.base, **recipe}
        write_imported_run(path, recipe, weights, step=self.step, source=self.source)
        self.progress(f"wrote the {stage} run {path}")
        return path


def build_reference_importer(params: ReferenceImportParams) -> ReferenceImporter:
    """The ``reference`` importer factory."""
    return ReferenceImporter(params)
