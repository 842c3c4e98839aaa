"""Reading a reference (DisDiff / latent-diffusion) model config as disdiff components.

The reference code builds its models from an OmegaConf YAML whose ``model`` section names a class
(``target``) and its ``params``. This module translates such a section into the plugins and
parameters of this toolkit, for the four kinds of checkpoint the reference code writes:

* a DisDiff model: ``LatentDiffusion`` (or pixel-space ``DDPM``) whose ``unet_config`` is the
  shift UNet (``openaimodel_shift.UNetModel``, with ``latent_unit`` N and ``repre_emb_channels``
  D) and whose ``cond_stage_config`` is ``Encoder4``: first stage, backbone, encoder, field and
  the two loss terms;
* a backbone: ``LatentDiffusion`` / ``DDPM`` with a plain UNet: first stage and backbone;
* an autoencoder: ``VQModel``, ``VQModelInterface`` or ``AutoencoderKL``: the first stage only.

Every key of the config is either translated, or known to have no effect on the imported weights
(logging, learning-rate schedules, checkpoint paths …); anything else, and any value the toolkit
cannot express, is a :class:`~disdiff_core.errors.DisdiffError` that names it. Nothing here
imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from disdiff_core.errors import DisdiffError

#: Targets of the reference code, by what they hold.
DIFFUSION_TARGETS = {"ldm.models.diffusion.ddpm.LatentDiffusion", "ldm.models.diffusion.ddpm.DDPM"}
VQ_TARGETS = {"ldm.models.autoencoder.VQModel", "ldm.models.autoencoder.VQModelInterface"}
KL_TARGETS = {"ldm.models.autoencoder.AutoencoderKL"}
UNET_TARGETS = {
    "ldm.modules.diffusionmodules.openaimodel.UNetModel": False,
    "ldm.modules.diffusionmodules.openaimodel_shift.UNetModel": True,  # the DisDiff field
}
ENCODER4_TARGET = "ldm.modules.encoders.modules.Encoder4"
UNCONDITIONAL = "__is_unconditional__"

#: Config keys that do not change what the imported weights compute.
_INERT_DIFFUSION = {
    "log_every_t", "first_stage_key", "cond_stage_key", "monitor", "scheduler_config",
    "ckpt_path", "ignore_keys", "load_only_unet", "use_ema", "clip_denoised", "cond_stage_forward",
    "num_timesteps_cond", "cond_stage_trainable", "concat_mode", "scale_by_std", "scale_factor",
    "use_positional_encodings", "make_it_fit", "conditioning_key", "image_size", "channels",
}
_INERT_UNET = {"use_checkpoint", "use_fp16", "legacy", "ckpt_path", "load_ema_ckpt",
               "seprate_decoder", "transformer_depth"}
_INERT_AUTOENCODER = {"monitor", "ckpt_path", "ignore_keys", "image_key", "colorize_nlabels",
                      "lossconfig", "scheduler_config", "lr_g_factor", "remap",
                      "sane_index_shape", "batch_resize_range"}
_INERT_DDCONFIG = {"out_ch", "double_z", "resolution", "in_channels", "dropout", "ch",
                   "ch_mult", "num_res_blocks", "attn_resolutions", "z_channels",
                   "give_pre_end", "tanh_out", "use_linear_attn", "attn_type"}

#: The reference's beta schedules (ldm.modules.diffusionmodules.util.make_beta_schedule).
_BETA_SCHEDULES = {"linear": "linear_sqrt", "sqrt_linear": "linear", "cosine": "cosine"}


@dataclass
class ReferenceModel:
    """What a reference config describes, as disdiff recipe components (plain dicts).

    Attributes:
        kind: ``disdiff``, ``backbone`` or ``autoencoder``.
        first_stage: ``{"plugin", "params"}`` of the autoencoder (identity in pixel space).
        backbone, encoder, field: the same for the diffusion model's parts (None when absent).
        losses: the DisDiff loss terms (``mean-shift``, ``disentangle``).
        image_size: side of the pixel images the model takes.
        legacy_attention: the UNet's heads lay out their channels as [q, k, v] per head
            (the reference default) rather than [all q, all k, all v].
        warmup_steps, base_lr: the learning-rate settings, for the imported recipe.
    """

    kind: str
    first_stage: dict[str, Any]
    image_size: int
    backbone: dict[str, Any] | None = None
    encoder: dict[str, Any] | None = None
    field: dict[str, Any] | None = None
    losses: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    legacy_attention: bool = True
    warmup_steps: int = 0
    base_lr: float | None = None


def _check_keys(where: str, params: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise DisdiffError(f"{where}: the toolkit cannot express the config keys {unknown}")


def _require(where: str, condition: bool, what: str) -> None:
    if not condition:
        raise DisdiffError(f"{where}: {what} is not supported by the toolkit")


def _section(config: Mapping[str, Any], key: str, where: str) -> tuple[str, dict[str, Any]]:
    node = config.get(key)
    if not isinstance(node, Mapping) or "target" not in node:
        raise DisdiffError(f"{where}.{key}: expected a mapping with a `target`")
    params = node.get("params") or {}
    if not isinstance(params, Mapping):
        raise DisdiffError(f"{where}.{key}.params: expected a mapping")
    return str(node["target"]), dict(params)


def read_model_section(config: Mapping[str, Any]) -> ReferenceModel:
    """Translate a reference config (the whole file, or its ``model`` section)."""
    model = config.get("model", config)
    if not isinstance(model, Mapping) or "target" not in model:
        raise DisdiffError("config: expected a `model` section with a `target`")
    target, params = str(model["target"]), dict(model.get("params") or {})
    base_lr = model.get("base_learning_rate")
    if target in VQ_TARGETS | KL_TARGETS:
        first_stage, size = autoencoder_component(target, params, "model")
        return ReferenceModel(kind="autoencoder", first_stage=first_stage, image_size=size,
                              base_lr=base_lr)
    if target not in DIFFUSION_TARGETS:
        raise DisdiffError(f"model.target: {target} is not a model the importer knows "
                           f"(one of {sorted(DIFFUSION_TARGETS | VQ_TARGETS | KL_TARGETS)})")
    return _diffusion_model(target, params, base_lr)


def _diffusion_model(target: str, params: dict[str, Any], base_lr: Any) -> ReferenceModel:
    where = "model.params"
    known = _INERT_DIFFUSION | {
        "linear_start", "linear_end", "timesteps", "beta_schedule", "cosine_s", "given_betas",
        "loss_type", "parameterization", "unet_config", "first_stage_config", "cond_stage_config",
        "dis_loss_flag", "dis_loss_type", "dis_weight", "l_simple_weight",
        "original_elbo_weight", "v_posterior", "learn_logvar", "logvar_init",
    }
    _check_keys(where, params, known)
    _require(where, params.get("parameterization", "eps") == "eps", "a parameterization other "
             "than eps")
    _require(where, params.get("given_betas") is None, "given_betas")
    _require(where, float(params.get("original_elbo_weight", 0.0)) == 0.0,
             "a non-zero original_elbo_weight")
    _require(where, float(params.get("l_simple_weight", 1.0)) == 1.0, "l_simple_weight ≠ 1")
    _require(where, not params.get("learn_logvar", False), "learn_logvar")
    _require(where, float(params.get("v_posterior", 0.0)) == 0.0, "a non-zero v_posterior")
    _require(where, float(params.get("logvar_init", 0.0)) == 0.0, "a non-zero logvar_init")
    schedule = _schedule(params, where)

    unet_target, unet = _section(params, "unet_config", where)
    if unet_target not in UNET_TARGETS:
        raise DisdiffError(f"{where}.unet_config.target: {unet_target} is not a UNet the "
                           f"importer knows ({sorted(UNET_TARGETS)})")
    is_field = UNET_TARGETS[unet_target]
    backbone, field_params, legacy = unet_components(unet, schedule, f"{where}.unet_config.params")

    if target.endswith(".LatentDiffusion"):
        fs_target, fs_params = _section(params, "first_stage_config", where)
        first_stage, image_size = autoencoder_component(fs_target, fs_params,
                                                        f"{where}.first_stage_config")
    else:
        first_stage = {"plugin": "identity", "params": {"channels": unet["in_channels"]}}
        image_size = int(unet["image_size"])

    result = ReferenceModel(kind="backbone", first_stage=first_stage, image_size=image_size,
                            backbone=backbone, legacy_attention=legacy,
                            warmup_steps=_warmup(params), base_lr=base_lr)
    cond = params.get("cond_stage_config", UNCONDITIONAL)
    if not is_field:
        _require(where, cond in (UNCONDITIONAL, None) or params.get("dis_loss_flag") is False,
                 "a conditional (non-DisDiff) backbone")
        return result
    assert field_params is not None
    num_factors, factor_dim, orthogonal = field_params
    result.kind = "disdiff"
    result.encoder = _encoder4(params, where, num_factors, factor_dim, image_size)
    result.field = {"plugin": "shift-unet", "params": {"orthogonal_factors": orthogonal}}
    result.losses = _dis_losses(params, where)
    return result


def _schedule(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = params.get("beta_schedule", "linear")
    if kind not in _BETA_SCHEDULES:
        raise DisdiffError(f"{where}.beta_schedule: {kind!r} is not supported by the toolkit "
                           f"(one of {sorted(_BETA_SCHEDULES)})")
    schedule: dict[str, Any] = {"kind": _BETA_SCHEDULES[kind],
                                "num_timesteps": int(params.get("timesteps", 1000))}
    if kind == "cosine":
        schedule["cosine_s"] = float(params.get("cosine_s", 8e-3))
    else:
        schedule["beta_start"] = float(params.get("linear_start", 1e-4))
        schedule["beta_end"] = float(params.get("linear_end", 2e-2))
    return schedule


def _warmup(params: Mapping[str, Any]) -> int:
    """The warm-up of the reference's LambdaLinearScheduler (0 when there is none)."""
    scheduler = params.get("scheduler_config") or {}
    steps = (scheduler.get("params") or {}).get("warm_up_steps") or [0]
    return int(steps[0] if isinstance(steps, list) else steps)


def unet_components(
    unet: Mapping[str, Any], schedule: dict[str, Any], where: str
) -> tuple[dict[str, Any], tuple[int, int, bool] | None, bool]:
    """The ``unet`` backbone component of a reference UNet config, the field's (N, D,
    orthogonal embeddings) when it is the DisDiff shift UNet, and whether its attention uses the
    legacy head layout."""
    known = _INERT_UNET | {
        "image_size", "in_channels", "out_channels", "model_channels", "attention_resolutions",
        "num_res_blocks", "channel_mult", "num_heads", "num_head_channels", "num_heads_upsample",
        "use_scale_shift_norm", "resblock_updown", "dropout", "conv_resample", "dims",
        "num_classes", "use_new_attention_order", "use_spatial_transformer", "context_dim",
        "n_embed", "repre_emb_channels", "latent_unit", "orth_emb",
    }
    _check_keys(where, unet, known)
    _require(where, int(unet.get("dims", 2)) == 2, "dims ≠ 2")
    for key in ("num_classes", "context_dim", "n_embed"):
        _require(where, unet.get(key) is None, key)
    _require(where, not unet.get("use_spatial_transformer", False), "use_spatial_transformer")
    heads = int(unet.get("num_heads", -1))
    head_channels = int(unet.get("num_head_channels", -1))
    _require(where, int(unet.get("num_heads_upsample", -1)) in (-1, heads),
             "num_heads_upsample ≠ num_heads")
    size = int(unet["image_size"])
    mult = [int(m) for m in unet.get("channel_mult", [1, 2, 4, 8])]
    level_downsample = [2**level for level in range(len(mult))]
    stray = [ds for ds in unet.get("attention_resolutions", []) if int(ds) not in level_downsample]
    _require(where, not stray, f"attention_resolutions {stray} (not a level's downsampling)")
    params: dict[str, Any] = {
        "image_size": size,
        "in_channels": int(unet["in_channels"]),
        "out_channels": int(unet["out_channels"]),
        "base_channels": int(unet["model_channels"]),
        "channel_mult": mult,
        "num_res_blocks": int(unet["num_res_blocks"]),
        "attention_resolutions": [size // int(ds) for ds in unet.get("attention_resolutions", [])],
        "dropout": float(unet.get("dropout", 0.0)),
        "resblock_updown": bool(unet.get("resblock_updown", False)),
        "conv_resample": bool(unet.get("conv_resample", True)),
        "use_scale_shift_norm": bool(unet.get("use_scale_shift_norm", False)),
        "norm_groups": 32,
        "schedule": schedule,
    }
    if head_channels != -1:
        params["num_head_channels"] = head_channels
    else:
        params["num_heads"] = heads
    backbone = {"plugin": "unet", "params": params}
    legacy = not bool(unet.get("use_new_attention_order", False))
    if "latent_unit" not in unet:
        return backbone, None, legacy
    factors = (int(unet["latent_unit"]), int(unet["repre_emb_channels"]),
               bool(unet.get("orth_emb", False)))
    return backbone, factors, legacy


def autoencoder_component(
    target: str, params: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], int]:
    """The ``vq`` / ``kl`` first-stage component of a reference autoencoder config, and the
    side of the images it takes."""
    if target not in VQ_TARGETS | KL_TARGETS:
        raise DisdiffError(f"{where}.target: {target} is not an autoencoder the importer knows "
                           f"({sorted(VQ_TARGETS | KL_TARGETS)})")
    _check_keys(f"{where}.params", params, _INERT_AUTOENCODER | {"embed_dim", "n_embed",
                                                                   "ddconfig"})
    dd = dict(params.get("ddconfig") or {})
    _check_keys(f"{where}.params.ddconfig", dd, _INERT_DDCONFIG)
    for key in ("give_pre_end", "tanh_out", "use_linear_attn"):
        _require(f"{where}.params.ddconfig", not dd.get(key, False), key)
    _require(f"{where}.params.ddconfig", dd.get("attn_type", "vanilla") == "vanilla",
             "an attn_type other than vanilla")
    _require(f"{where}.params.ddconfig", int(dd.get("out_ch", 3)) == int(dd.get("in_channels", 3)),
             "out_ch ≠ in_channels")
    resolution = int(dd["resolution"])
    mult = [int(m) for m in dd.get("ch_mult", [1, 2, 4, 8])]
    level_res = [resolution >> level for level in range(len(mult))]
    attn = [int(r) for r in dd.get("attn_resolutions", [])]
    stray = [r for r in attn if r not in level_res]
    _require(f"{where}.params.ddconfig", not stray, f"attn_resolutions {stray}")
    out: dict[str, Any] = {
        "in_channels": int(dd.get("in_channels", 3)),
        "ch": int(dd["ch"]),
        "ch_mult": mult,
        "num_res_blocks": int(dd["num_res_blocks"]),
        "attn_levels": [level for level, res in enumerate(level_res) if res in attn],
        "dropout": float(dd.get("dropout", 0.0)),
        "z_channels": int(dd["z_channels"]),
        "embed_dim": int(params["embed_dim"]),
        "disc_weight": 0.0,
        "disc_start": 0,
    }
    if target in VQ_TARGETS:
        _require(f"{where}.params.ddconfig", not dd.get("double_z", False), "a VQ with double_z")
        out["n_embed"] = int(params["n_embed"])
        return {"plugin": "vq", "params": out}, resolution
    _require(f"{where}.params.ddconfig", bool(dd.get("double_z", True)), "a KL without double_z")
    return {"plugin": "kl", "params": out}, resolution


def _encoder4(params: Mapping[str, Any], where: str, num_factors: int, factor_dim: int,
              image_size: int) -> dict[str, Any]:
    target, enc = _section(params, "cond_stage_config", where)
    if target != ENCODER4_TARGET:
        raise DisdiffError(f"{where}.cond_stage_config.target: {target} is not an encoder the "
                           f"importer knows ({ENCODER4_TARGET})")
    _check_keys(f"{where}.cond_stage_config.params", enc, {"d", "latent_dim", "bn"})
    _require(f"{where}.cond_stage_config.params", enc.get("bn", True) is not False,
             "Encoder4 without BatchNorm")
    latent_dim = int(enc["latent_dim"])
    if latent_dim != num_factors * factor_dim:
        raise DisdiffError(f"{where}.cond_stage_config.params.latent_dim: {latent_dim} is not "
                           f"latent_unit × repre_emb_channels = {num_factors} × {factor_dim}")
    return {"plugin": "conv4", "params": {
        "num_factors": num_factors, "factor_dim": factor_dim, "image_size": image_size,
        "channels": int(enc.get("d", 128)), "third_relu": False}}


def _dis_losses(params: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    loss_type = params.get("loss_type", "l2")
    _require(where, loss_type in ("l1", "l2"), f"loss_type {loss_type!r}")
    losses: list[dict[str, Any]] = [{"plugin": "mean-shift", "params": {"loss_type": loss_type}}]
    if not params.get("dis_loss_flag", False):
        return losses
    dis_type = params.get("dis_loss_type", "Z")
    _require(where, dis_type == "Z", f"dis_loss_type {dis_type!r} (the toolkit has Z)")
    weight = float(params.get("dis_weight", 0.05))
    losses.append({"plugin": "disentangle", "params": {"weight": weight, "weight_mode": "latent"}})
    return losses
