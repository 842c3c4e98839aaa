"""The ``diffusers`` backbone: a local diffusers ``UNet2DModel`` behind the Backbone interface.

The forward pass replicates ``UNet2DModel.forward`` with the model's own modules, split in two:
the encoder half (time embedding, ``conv_in``, down blocks) yields the features (``conv_in``'s
output and every down block's residual outputs = diffusers' ``down_block_res_samples``, whose
last entry is the mid block's input), the decoder half runs the mid block, up blocks and output
layers. Its down blocks follow the ADM layout (``layers_per_block`` resnets per level, the
downsampler's output as a skip), so :class:`~disdiff_core.interfaces.backbone.FeatureLayout`
describes it exactly and a field can mirror it.

Supported: ε-prediction models with positional time embedding, without class conditioning and
without score-SDE skip blocks; anything else is a clear DisdiffError. ``diffusers`` is an
optional dependency (``pip install disdiff[diffusers]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from disdiff_core.diffusion.config import ScheduleConfig
from disdiff_core.diffusion.schedule import NoiseSchedule, as_timesteps
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.backbone import Backbone, BackboneFeatures, FeatureLayout
from disdiff_plugins.backbones.specs import DiffusersParams

#: diffusers ``beta_schedule`` names → disdiff schedule kinds.
BETA_SCHEDULE_KINDS = {
    "linear": "linear",
    "scaled_linear": "linear_sqrt",
    "squaredcos_cap_v2": "cosine",
    "sigmoid": "sigmoid",
}


def schedule_from_scheduler_config(config: dict[str, Any]) -> ScheduleConfig:
    """The schedule of a diffusers DDPM/DDIM scheduler config (its dict, as in the json).

    Named schedules map onto disdiff's kinds (same betas, computed in float64); explicit
    ``trained_betas`` or ``rescale_betas_zero_snr`` become a ``custom`` schedule with the betas
    diffusers itself computes.
    """
    steps = int(config.get("num_train_timesteps", 1000))
    name = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        return ScheduleConfig(
            kind="custom", num_timesteps=steps, betas=list(config["trained_betas"])
        )
    if config.get("rescale_betas_zero_snr") or name not in BETA_SCHEDULE_KINDS:
        try:
            from diffusers import DDPMScheduler

            betas = DDPMScheduler.from_config(config).betas
        except (ValueError, NotImplementedError) as exc:
            raise DisdiffError(f"unsupported diffusers scheduler config: {exc}") from exc
        # Zero-terminal-SNR rescaling makes the last beta 1; keep it just inside (0, 1).
        betas = betas.double().clamp(max=1 - 1e-7)
        return ScheduleConfig(kind="custom", num_timesteps=steps, betas=betas.tolist())
    kind = BETA_SCHEDULE_KINDS[name]
    if kind == "cosine":
        return ScheduleConfig(kind="cosine", num_timesteps=steps)
    return ScheduleConfig(
        kind=kind,
        num_timesteps=steps,
        beta_start=float(config.get("beta_start", 1e-4)),
        beta_end=float(config.get("beta_end", 0.02)),
    )


def _import_unet2d() -> Any:
    try:
        from diffusers import UNet2DModel
    except ImportError as exc:
        raise DisdiffError(
            "the diffusers backbone needs the `diffusers` package: pip install 'disdiff[diffusers]'"
        ) from exc
    return UNet2DModel


def _check_supported(model: Any, where: Path) -> None:
    config = model.config
    problems = []
    if config.time_embedding_type != "positional":
        problems.append(f"time_embedding_type {config.time_embedding_type!r}")
    if model.class_embedding is not None:
        problems.append("class conditioning")
    if any("Skip" in name for name in (*config.down_block_types, *config.up_block_types)):
        problems.append("score-SDE skip blocks")
    if config.in_channels != config.out_channels:
        problems.append(f"out_channels {config.out_channels} != in_channels {config.in_channels}")
    if problems:
        raise DisdiffError(f"{where}: unsupported UNet2DModel ({', '.join(problems)})")


class DiffusersBackbone(Backbone):
    """A ``UNet2DModel`` (attribute ``model``) with its noise schedule; always frozen."""

    def __init__(self, model: Any, schedule: NoiseSchedule) -> None:
        super().__init__(schedule)
        self.model = model
        config = model.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        self._sample_shape = (int(config.in_channels), int(height), int(width))
        self._layout = FeatureLayout(
            sample_channels=int(config.in_channels),
            image_size=(int(height), int(width)),
            stem_channels=int(model.conv_in.out_channels),
            level_channels=tuple(int(c) for c in config.block_out_channels),
            num_res_blocks=int(config.layers_per_block),
            time_embed_dim=int(model.time_embedding.linear_2.out_features),
            attention_levels=tuple(
                level for level, name in enumerate(config.down_block_types) if "Attn" in name
            ),
        )
        self.freeze()

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return self._sample_shape

    @property
    def feature_layout(self) -> FeatureLayout:
        return self._layout

    def run_encoder(self, y_t: Tensor, t: Tensor | int) -> BackboneFeatures:
        model = self.model
        t = as_timesteps(t, y_t.shape[0], y_t.device)
        emb = model.time_embedding(model.time_proj(t).to(model.dtype))
        if model.config.center_input_sample:
            y_t = 2 * y_t - 1.0
        h = model.conv_in(y_t)
        skips = [h]
        for block in model.down_blocks:
            h, res_samples = block(hidden_states=h, temb=emb)
            skips.extend(res_samples)
        return BackboneFeatures(skips=skips, emb=emb)

    def run_decoder(self, features: BackboneFeatures) -> Tensor:
        model = self.model
        emb = features.emb
        h = features.bottleneck
        if model.mid_block is not None:
            h = model.mid_block(h, emb)
        remaining = list(features.skips)
        for block in model.up_blocks:
            count = len(block.resnets)
            res_samples, remaining = tuple(remaining[-count:]), remaining[:-count]
            h = block(h, res_samples, emb)
        return model.conv_out(model.conv_act(model.conv_norm_out(h)))


def _model_dir(folder: Path) -> Path:
    """The UNet folder: ``folder`` itself or its ``unet/`` subfolder (a pipeline folder)."""
    if (folder / "unet" / "config.json").is_file():
        return folder / "unet"
    if (folder / "config.json").is_file():
        return folder
    raise DisdiffError(f"{folder} holds no diffusers model (no config.json, no unet/config.json)")


def _scheduler_file(model_dir: Path, explicit: str | None) -> Path:
    if explicit is not None:
        path = Path(explicit)
        path = path / "scheduler_config.json" if path.is_dir() else path
        if not path.is_file():
            raise DisdiffError(f"scheduler config {path} does not exist")
        return path
    candidates = [
        model_dir / "scheduler_config.json",
        model_dir / "scheduler" / "scheduler_config.json",
        model_dir.parent / "scheduler" / "scheduler_config.json",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DisdiffError(
        f"no scheduler config for {model_dir}: looked for "
        + ", ".join(str(c) for c in candidates)
        + " (or set the backbone's `scheduler_config`)"
    )


def load_diffusers_backbone(
    params: DiffusersParams, *, checkpoint: str | Path | None = None
) -> DiffusersBackbone:
    """The ``diffusers`` plugin factory: load the folder named by ``checkpoint`` or
    ``params.path`` (a UNet2DModel folder or a pipeline folder), frozen, float32."""
    if checkpoint is not None and params.path is not None and Path(checkpoint) != Path(params.path):
        raise DisdiffError(
            f"the diffusers backbone got two folders: checkpoint {checkpoint}, path {params.path}"
        )
    folder = checkpoint if checkpoint is not None else params.path
    if folder is None:
        raise DisdiffError(
            "the diffusers backbone needs a model folder: set `checkpoint` or `path`"
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise DisdiffError(f"diffusers model folder {folder} does not exist")
    model_dir = _model_dir(folder)
    model_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    class_name = model_config.get("_class_name", "UNet2DModel")
    if class_name != "UNet2DModel":
        raise DisdiffError(
            f"{model_dir} holds a {class_name}; the diffusers backbone needs a UNet2DModel"
        )
    scheduler_path = _scheduler_file(model_dir, params.scheduler_config)
    scheduler_config = json.loads(scheduler_path.read_text(encoding="utf-8"))
    prediction = scheduler_config.get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise DisdiffError(
            f"{scheduler_path}: prediction_type {prediction!r}; DisDiff needs an ε-prediction model"
        )
    model = _import_unet2d().from_pretrained(
        str(model_dir), torch_dtype=torch.float32, low_cpu_mem_usage=False
    )
    _check_supported(model, model_dir)
    schedule = NoiseSchedule(schedule_from_scheduler_config(scheduler_config))
    return DiffusersBackbone(model, schedule)
