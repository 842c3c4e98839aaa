"""Loading a trained DisDiff run for use: the model in two lines.

    model = load_disdiff("runs/shapes3d-disdiff")
    z = encode_images(model, images)        # uint8 (B, H, W, C) → (B, N, D)

A DisDiff run directory holds its resolved ``recipe.yaml`` (stage ``disdiff``) and the final
(EMA) weights of what it trained, ``weights/{encoder,field}.safetensors``; the frozen backbone
and first stage come from earlier runs (``from_run``) or files (``checkpoint``), resolved by
:func:`~disdiff_core.stages.components.build_component`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from disdiff_core import registry
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.errors import DataError, DisdiffError, RunError
from disdiff_core.recipes.compose import ComposedRecipe
from disdiff_core.recipes.model import Component, Recipe
from disdiff_core.recipes.resolve import resolve
from disdiff_core.recipes.yaml_io import read_yaml
from disdiff_core.stage_table import IDENTITY_FIRST_STAGE, stage_spec
from disdiff_core.stages.components import build_component, weights_path

#: What a DisDiff run trains (and so must have exported).
TRAINED = stage_spec("disdiff").trained
#: Images per encoder forward pass in :func:`encode_images`.
ENCODE_BATCH = 256


def read_run_recipe(run_dir: str | Path) -> Recipe:
    """The resolved recipe of a DisDiff run, checked to be one (a clear RunError otherwise).

    It is resolved again like any recipe, plugin parameters included: the file may have been
    edited or damaged since the run wrote it, and a bad value must be reported here, with the
    file and key, not by the plugin that later gets it."""
    run_dir = Path(run_dir)
    recipe_file = run_dir / "recipe.yaml"
    if not recipe_file.is_file():
        raise RunError(f"{run_dir} is not a run directory (no recipe.yaml)")
    recipe = resolve(ComposedRecipe(read_yaml(recipe_file), path=recipe_file)).recipe
    if recipe.stage != "disdiff":
        raise RunError(f"{run_dir} is a {recipe.stage} run, not a disdiff run")
    return recipe


def _missing_weights(run_dir: Path) -> list[Path]:
    return [path for key in TRAINED if not (path := weights_path(run_dir, key)).is_file()]


def load_disdiff(run_dir: str | Path, device: str | torch.device | None = None) -> DisDiffModel:
    """Build a finished DisDiff run's model with its final weights, in eval mode.

    Args:
        run_dir: the run directory (``recipe.yaml`` + ``weights/``).
        device: where to put it (default: CUDA when available, else CPU).

    Raises:
        RunError: not a disdiff run, or its encoder/field weights are missing.
        DisdiffError: ``device`` is not a device, or a CUDA device this machine lacks.
    """
    run_dir = Path(run_dir)
    chosen = resolve_device(device)  # before building anything: a typo is the user's, not a bug
    recipe = read_run_recipe(run_dir)
    missing = _missing_weights(run_dir)
    if missing:
        raise RunError(f"run {run_dir} has no exported weights {', '.join(map(str, missing))}; "
                       "has it finished?")
    assert recipe.backbone is not None and recipe.encoder is not None and recipe.field is not None
    first_stage_component = recipe.first_stage or Component(plugin=IDENTITY_FIRST_STAGE)
    first_stage = build_component("first_stage", "first_stage", first_stage_component, frozen=True)
    backbone = build_component("backbone", "backbone", recipe.backbone, frozen=True)
    encoder = build_component("encoder", "encoder",
                              _trained(run_dir, "encoder", recipe.encoder), frozen=True)
    field = build_component("field", "field", _trained(run_dir, "field", recipe.field),
                            frozen=True, backbone=backbone, num_factors=encoder.num_factors,
                            factor_dim=encoder.factor_dim)
    losses = [registry.build("loss", term.plugin, term.params) for term in recipe.losses
              if term.plugin is not None]
    model = DisDiffModel(backbone, first_stage, encoder, field, losses)
    return model.to(chosen).eval().requires_grad_(False)


def _trained(run_dir: Path, key: str, component: Component) -> Component:
    """The run's own trained component: its plugin and params, with its exported weights."""
    if component.plugin is None:
        raise RunError(f"{run_dir / 'recipe.yaml'}: `{key}` names no plugin (not a resolved "
                       "recipe written by `disdiff train`?)")
    return Component(plugin=component.plugin, params=component.params,
                     checkpoint=str(weights_path(run_dir, key)))


def check_image_shape(recipe: Recipe, image_shape: tuple[int, ...], source: str) -> None:
    """Raise a DataError when images of ``image_shape`` (H, W, C) from ``source`` are not what
    the run's encoder takes (its ``image_size`` and ``in_channels``)."""
    params = recipe.encoder.params if recipe.encoder is not None else {}
    size, channels = params.get("image_size"), params.get("in_channels", 3)
    if size is not None and tuple(image_shape) != (size, size, channels):
        raise DataError(f"{source} holds {'×'.join(map(str, image_shape))} images but the run's "
                        f"encoder takes {size}×{size}×{channels}")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device a command was given (``--device``), checked to exist on this machine; None:
    :func:`default_device`. A misspelt name or a CUDA device the machine lacks is the user's
    error (a DisdiffError naming it), not a crash inside torch."""
    if device is None:
        return default_device()
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise DisdiffError(f"--device {str(device)!r} is not a torch device "
                           "(e.g. cpu, cuda, cuda:1)") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DisdiffError(f"--device {device}: this machine has no CUDA device "
                               "(torch.cuda.is_available() is False); use --device cpu")
        if chosen.index is not None and chosen.index >= count:
            raise DisdiffError(f"--device {device}: this machine has {count} CUDA device(s), "
                               f"cuda:0 to cuda:{count - 1}")
    return chosen


def model_device(model: DisDiffModel) -> torch.device:
    return next(model.encoder.parameters()).device


def to_model_input(images: Any, device: torch.device) -> Tensor:
    """Images as the models take them: float32 (B, C, H, W) in [-1, 1] on ``device``.

    uint8 arrays/tensors are read as (B, H, W, C) store images and mapped x/127.5 − 1 (the
    loaders' mapping); float input is taken to be (B, C, H, W) in [-1, 1] already.
    """
    tensor = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images)
    if tensor.ndim != 4:
        raise ValueError(f"expected a batch of images (4 dims), got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        tensor = tensor.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return tensor.to(device=device, dtype=torch.float32)


@torch.no_grad()
def encode_images(model: DisDiffModel, images: Any, *, batch_size: int = ENCODE_BATCH) -> Tensor:
    """z = E(x) for a batch of images (see :func:`to_model_input`), (B, N, D) float32 on the
    model's device, computed ``batch_size`` images at a time."""
    device = model_device(model)
    chunks = [model.encode(to_model_input(images[start:start + batch_size], device))
              for start in range(0, len(images), batch_size)]
    return torch.cat(chunks) if chunks else torch.zeros(
        0, model.num_factors, model.field.factor_dim, device=device)


def encode_store(model: DisDiffModel, store: Any, *, batch_size: int = ENCODE_BATCH) -> np.ndarray:
    """Codes of every image of an opened dataset store, in its row order: float32 (rows, N, D).

    The row order is the store's canonical factor order, so the result lines up with
    ``store.ground_truth()`` and ``store.attributes`` for evaluation."""
    codes = np.zeros((store.num_images, model.num_factors, model.field.factor_dim), np.float32)
    for start, batch in store.iter_batches(batch_size):
        codes[start:start + len(batch)] = encode_images(
            model, batch, batch_size=batch_size).float().cpu().numpy()
    return codes
