"""Sampling and editing with a trained DisDiff model: generation, reconstruction, factor swaps
and traversals (docs/method.md, "Sampling and editing").

By default every edit of a real image starts from that image's deterministic DDIM inversion:
y0 = s·ℰ(x) is mapped to y_T with the conditional ε̃ of its own code z = E(x), then y_T is
sampled back with η = 0 under an edited code. With the unedited code this returns (up to
discretisation error) the input, so what changes in an edit is what the edited factor controls.
An inverted y_T carries the image itself, though, and while the fields are weak (early in
training, or over a strong backbone) it fixes every cell of a grid to the source. The other
start, ``noise``, is the reference's: one fresh y_T ~ N(0, I) shared by the whole grid, sampled
with η = 0, so the cells differ only in their codes and show what the codes alone control.

Images go in as store images (uint8 (B, H, W, C)) or model inputs (float (B, C, H, W) in
[-1, 1]); results come out as uint8 (…, H, W, C) arrays, ready for
:func:`~disdiff_core.images.labelled_grid`. Work is done ``batch_size`` samples at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from disdiff_core import registry
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.errors import DisdiffError
from disdiff_core.images import from_signed_unit
from disdiff_core.interfaces.sampler import Sampler
from disdiff_core.loading import model_device, to_model_input
from disdiff_core.recipes.model import Component

#: Samples per sampler loop.
BATCH = 64
#: Where an edit's sampling starts: the source's DDIM inversion, or one fresh noise y_T.
STARTS = ("inverted", "noise")


def build_sampler(component: Component, *, steps: int | None = None,
                  invertible: bool = False) -> Sampler:
    """The run's sampler (``sample.sampler``), with ``steps`` overridden if given.

    ``invertible``: the edit needs DDIM inversion; a sampler that cannot invert (ddpm) is
    replaced by ``ddim`` with the same number of steps, since only DDIM has an exact inverse.
    """
    assert component.plugin is not None
    params = dict(component.params)
    if steps is not None:
        params["steps"] = steps
    sampler = registry.build("sampler", component.plugin, params)
    if invertible and not sampler.can_invert:
        ddim_params = {"steps": params["steps"]} if params.get("steps") else {}
        sampler = registry.build("sampler", "ddim", ddim_params)
    return sampler


def _images(model: DisDiffModel, images: Any) -> Tensor:
    return to_model_input(images, model_device(model))


def _decode(model: DisDiffModel, y0: Tensor) -> np.ndarray:
    return from_signed_unit(model.first_stage.decode_scaled(y0).float().cpu().numpy())


@torch.no_grad()
def render(
    model: DisDiffModel,
    sampler: Sampler,
    y_T: Tensor,
    z: Tensor | None,
    *,
    deterministic: bool,
    generator: torch.Generator | None = None,
    batch_size: int = BATCH,
) -> np.ndarray:
    """Sample y_T (B, C, h, w) down to images, conditioned on codes z (B, N, D) (None: the bare
    backbone ε_θ), and decode them: uint8 (B, H, W, C)."""
    chunks = []
    for start in range(0, y_T.shape[0], batch_size):
        stop = start + batch_size
        eps_fn = model.backbone if z is None else model.conditional_eps(z[start:stop])
        y0 = sampler.sample(eps_fn, model.schedule, y_T[start:stop], generator=generator,
                            deterministic=deterministic)
        chunks.append(_decode(model, y0))
    return np.concatenate(chunks)


@torch.no_grad()
def invert(model: DisDiffModel, sampler: Sampler, x: Tensor, z: Tensor, *,
           batch_size: int = BATCH) -> Tensor:
    """Deterministic DDIM inversion of images x (B, C, H, W) under their codes z: y_T."""
    if not sampler.can_invert:
        raise DisdiffError(f"the {type(sampler).__name__} cannot invert images; use ddim")
    chunks = []
    for start in range(0, x.shape[0], batch_size):
        stop = start + batch_size
        y0 = model.first_stage.encode_scaled(x[start:stop])
        chunks.append(sampler.invert(model.conditional_eps(z[start:stop]), model.schedule, y0))
    return torch.cat(chunks)


def _noise(model: DisDiffModel, num: int, generator: torch.Generator | None) -> Tensor:
    device = model_device(model)
    source = generator.device if generator is not None else device
    return torch.randn((num, *model.backbone.sample_shape), generator=generator,
                       device=source).to(device)


@torch.no_grad()
def generate(
    model: DisDiffModel,
    sampler: Sampler,
    num: int | None = None,
    *,
    images: Any = None,
    generator: torch.Generator | None = None,
    batch_size: int = BATCH,
) -> np.ndarray:
    """Samples from fresh noise: conditioned on the codes of ``images`` (one sample each), or,
    without images, ``num`` samples of the bare pre-trained backbone. uint8 (B, H, W, C)."""
    z = None
    if images is not None:
        z = model.encode(_images(model, images))
        num = z.shape[0]
    if num is None:
        raise ValueError("give the number of samples or the images to condition on")
    return render(model, sampler, _noise(model, num, generator), z, deterministic=False,
                  generator=generator, batch_size=batch_size)


@torch.no_grad()
def reconstruct(model: DisDiffModel, sampler: Sampler, images: Any, *,
                batch_size: int = BATCH) -> np.ndarray:
    """Invert each image under its own code, then sample it back deterministically: the
    identity of the image is kept. uint8 (B, H, W, C)."""
    x = _images(model, images)
    z = model.encode(x)
    y_T = invert(model, sampler, x, z, batch_size=batch_size)
    return render(model, sampler, y_T, z, deterministic=True, batch_size=batch_size)


def _source(model: DisDiffModel, source: Any) -> tuple[Tensor, Tensor]:
    """The first image of ``source`` as model input (1, C, H, W) and its code (1, N, D)."""
    x = _images(model, source)[:1]
    return x, model.encode(x)


def _start(model: DisDiffModel, sampler: Sampler, x: Tensor, z: Tensor, start: str,
           generator: torch.Generator | None, batch_size: int) -> Tensor:
    """The y_T (1, C, h, w) an edit of image x (1, C, H, W) with code z starts from."""
    if start not in STARTS:
        raise DisdiffError(f"unknown edit start {start!r}; choose one of {', '.join(STARTS)}")
    if start == "noise":
        return _noise(model, 1, generator)
    return invert(model, sampler, x, z, batch_size=batch_size)


@torch.no_grad()
def unedited(model: DisDiffModel, sampler: Sampler, source: Any, *, start: str = "inverted",
             generator: torch.Generator | None = None) -> np.ndarray:
    """The first image of ``source`` sampled under its own code from ``start``: the cell an
    edit grid is read against (from the inversion, the source itself up to discretisation
    error; from noise, what the source's code alone makes). uint8 (1, H, W, C)."""
    x, z = _source(model, source)
    y_T = _start(model, sampler, x, z, start, generator, BATCH)
    return render(model, sampler, y_T, z, deterministic=True)


def _edit_from(model: DisDiffModel, sampler: Sampler, x: Tensor, z: Tensor, codes: Tensor,
               batch_size: int, start: str, generator: torch.Generator | None) -> np.ndarray:
    """Sample the y_T of ``start`` for image x (1, C, H, W) with code z (1, N, D) under each
    of ``codes`` (rows, cols, N, D), decoded to uint8 (rows, cols, H, W, C): one row per
    factor, one column per edit."""
    y_T = _start(model, sampler, x, z, start, generator, batch_size)
    rows, cols = codes.shape[:2]
    flat = codes.reshape(rows * cols, *codes.shape[2:])
    images = render(model, sampler, y_T.repeat(rows * cols, 1, 1, 1), flat,
                    deterministic=True, batch_size=batch_size)
    return images.reshape(rows, cols, *images.shape[1:])


@torch.no_grad()
def swap(model: DisDiffModel, sampler: Sampler, source: Any, targets: Any, *,
         batch_size: int = BATCH, start: str = "inverted",
         generator: torch.Generator | None = None) -> np.ndarray:
    """Factor swaps: cell (k, j) is the source image (first of ``source``) with code z_k taken
    from target j, sampled from ``start`` (see the module docstring; ``generator`` draws the
    noise start). uint8 (N, num_targets, H, W, C)."""
    x, z = _source(model, source)
    z_targets = model.encode(_images(model, targets))
    n, count = model.num_factors, z_targets.shape[0]
    codes = z[0].expand(n, count, *z.shape[1:]).clone()
    for k in range(n):
        codes[k, :, k] = z_targets[:, k]
    return _edit_from(model, sampler, x, z, codes, batch_size, start, generator)


@torch.no_grad()
def interpolate(model: DisDiffModel, sampler: Sampler, image_a: Any, image_b: Any, num: int, *,
                batch_size: int = BATCH, start: str = "inverted",
                generator: torch.Generator | None = None) -> np.ndarray:
    """Per-factor interpolation: cell (k, j) is image a with z_k = (1−α_j)·z_k(a) + α_j·z_k(b),
    α = linspace(0, 1, num). uint8 (N, num, H, W, C)."""
    x, z = _source(model, image_a)
    z_a, z_b = z[0], _source(model, image_b)[1][0]
    alphas = torch.linspace(0, 1, num, device=z_a.device)[:, None]
    codes = z_a.expand(model.num_factors, num, *z_a.shape).clone()
    for k in range(model.num_factors):
        codes[k, :, k] = (1 - alphas) * z_a[k] + alphas * z_b[k]
    return _edit_from(model, sampler, x, z, codes, batch_size, start, generator)


def principal_directions(codes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each factor k of codes (M, N, D): the mean (N, D), the first principal direction
    u_k (N, D) of z_k over the M codes, and the spread (N,) of the projections onto it."""
    mean = codes.mean(dim=0)
    centred = (codes - mean).transpose(0, 1).float()  # (N, M, D)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    spread = singular[:, 0] / max(codes.shape[0] - 1, 1) ** 0.5
    return mean, vh[:, 0].to(codes.dtype), spread.to(codes.dtype)


@torch.no_grad()
def traverse(model: DisDiffModel, sampler: Sampler, source: Any, codes: Tensor, num: int, *,
             span: float = 2.0, batch_size: int = BATCH, start: str = "inverted",
             generator: torch.Generator | None = None) -> np.ndarray:
    """Per-factor traversal along the principal direction of z_k over ``codes`` (M, N, D).

    Cell (k, j) is the source with z_k's coordinate along u_k set to the mean's plus c_j,
    c = linspace(−span·σ_k, span·σ_k, num) (σ_k: the codes' spread along u_k), its other
    coordinates kept. uint8 (N, num, H, W, C)."""
    if codes.shape[0] < 2:
        raise DisdiffError("a principal traversal needs the codes of at least two images")
    x, z = _source(model, source)
    z_source = z[0]
    mean, direction, spread = principal_directions(codes.to(z.device))
    steps = torch.linspace(-span, span, num, device=z.device)
    out = z_source.expand(model.num_factors, num, *z_source.shape).clone()
    for k in range(model.num_factors):
        u = direction[k]
        along = (z_source[k] - mean[k]) @ u
        out[k, :, k] = z_source[k] + (steps[:, None] * spread[k] - along) * u
    return _edit_from(model, sampler, x, z, out, batch_size, start, generator)


#: Noise levels of :func:`factor_effect_figure`, as fractions of T.
EFFECT_LEVELS = (0.25, 0.5, 0.75)


@torch.no_grad()
def factor_effect_figure(model: DisDiffModel, images: Any, *,
                         generator: torch.Generator | None = None) -> np.ndarray:
    """What each factor's field does: for every image and noise level t (a quarter, half and
    three quarters of T), the clean-image prediction ŷ0 decoded from ε_θ alone, from
    ε_θ − b_t·Σ_k G_k, and from ε_θ − b_t·G_k for each k (:meth:`DisDiffModel.factor_x0`).
    A field that carries its factor changes that attribute of the prediction and nothing else.
    Returns a labelled grid, uint8 (H, W, 3)."""
    from disdiff_core.images import labelled_grid

    x = _images(model, images)
    levels = [int(fraction * model.schedule.num_timesteps) for fraction in EFFECT_LEVELS]
    cells = model.factor_x0(x, levels, generator=generator)  # (B, L, K + 2, C, H, W)
    pixels = from_signed_unit(cells.flatten(0, 2).float().cpu().numpy())
    pixels = pixels.reshape(*cells.shape[:3], *pixels.shape[1:])
    rows = [pixels[b, i] for b in range(pixels.shape[0]) for i in range(len(levels))]
    labels = [f"image {b}, t={t}" for b in range(pixels.shape[0]) for t in levels]
    columns = ["eps_theta", "all G", *(f"G_{k}" for k in range(model.num_factors))]
    return labelled_grid(rows, labels, ncols=len(columns), col_labels=columns)
