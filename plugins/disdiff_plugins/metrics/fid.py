"""FID: the Fréchet distance between Inception-v3 pool3 (2048-d) feature statistics of generated
and reference images.

The network is torchvision's Inception-v3 built without weights; its weights come from a LOCAL
file only (nothing is downloaded): the ``weights`` parameter or the ``DISDIFF_INCEPTION_WEIGHTS``
environment variable naming a torchvision ``inception_v3`` state dict (the IMAGENET1K_V1 file
``inception_v3_google-0cc3c7bd.pth``, as .pth/.pt or .safetensors). Images are resized to
299×299 (bilinear) and fed in [-1, 1], the input range of those Google-trained weights. Note
that published FIDs usually come from the TF-ported "FID Inception" weights (pytorch-fid,
TTUR), whose network differs slightly: numbers from torchvision's weights are close to, not
equal to, those.

The distance's matrix square root follows pytorch-fid (``scipy.linalg.sqrtm``) by default, as
published FIDs do; ``matrix_root: eigh`` takes the symmetric eigenvalue form instead, equal to
rounding and 4-5× faster on 2048×2048 covariances (see :mod:`disdiff_plugins.metrics.frechet`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.metric import ImageMetric
from disdiff_plugins.metrics.frechet import FeatureStatistics, frechet_distance

WEIGHTS_ENV = "DISDIFF_INCEPTION_WEIGHTS"
INPUT_SIZE = 299


def resolve_weights(weights: str | Path | None) -> Path:
    """The local Inception weights file: the parameter, else ``$DISDIFF_INCEPTION_WEIGHTS``."""
    chosen = weights or os.environ.get(WEIGHTS_ENV)
    if not chosen:
        raise DisdiffError(
            "FID needs Inception-v3 weights and never downloads them: set the fid parameter "
            f"'weights' or the environment variable {WEIGHTS_ENV} to a local copy of "
            "torchvision's inception_v3 IMAGENET1K_V1 state dict "
            "(inception_v3_google-0cc3c7bd.pth, or the same tensors as .safetensors)"
        )
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise DisdiffError(
            f"Inception weights file {path} does not exist (from fid weights / {WEIGHTS_ENV})"
        )
    return path


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or of a torch file (optionally under ``state_dict``),
    loaded with ``weights_only`` so no pickled code runs."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


class InceptionPool3(torch.nn.Module):
    """Inception-v3 up to the 2048-d average pool ("pool3"): images -> (B, 2048) features."""

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        path = resolve_weights(weights)
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(load_state_dict(path))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise DisdiffError(
                f"{path} is not a torchvision inception_v3 state dict (1000 classes, with "
                f"AuxLogits): {str(exc).splitlines()[0]}"
            ) from exc
        net.fc = torch.nn.Identity()
        self.net = net.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, 3, H, W) in [-1, 1] -> (B, 2048) float32 features."""
        x = F.interpolate(images.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                          align_corners=False)
        return self.net(x)


def to_model_input(batch: Any, device: torch.device) -> torch.Tensor:
    """A batch as float (B, 3, H, W) in [-1, 1] on ``device``: uint8 (B, H, W, C) is a stored
    batch (scaled from [0, 255]); anything else is taken as already (B, C, H, W) in [-1, 1].
    A grey batch (C = 1: dSprites, smallNORB) is repeated over three channels, the usual way
    of feeding grey images to Inception."""
    tensor = batch if torch.is_tensor(batch) else torch.from_numpy(np.asarray(batch))
    if tensor.dtype == torch.uint8 and tensor.ndim == 4:
        tensor = tensor.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if tensor.ndim == 4 and tensor.shape[1] == 1:
        tensor = tensor.expand(-1, 3, -1, -1)
    if tensor.ndim != 4 or tensor.shape[1] != 3 or not tensor.is_floating_point():
        raise ValueError(
            f"expected image batches (B, C, H, W) or uint8 (B, H, W, C) with C = 1 or 3, got "
            f"{tuple(tensor.shape)}"
        )
    return tensor.to(device)


class FID(ImageMetric):
    """The ``fid`` metric plugin. ``reference`` may be image batches, a
    :class:`FeatureStatistics`, or the path of an .npz written by ``FeatureStatistics.save``
    (precomputed real-image statistics)."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self._network: InceptionPool3 | None = None

    @property
    def device(self) -> torch.device:
        if self.params.device:
            return torch.device(self.params.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    @property
    def network(self) -> InceptionPool3:
        """The feature network, loaded on first use."""
        if self._network is None:
            self._network = InceptionPool3(self.params.weights).to(self.device)
        return self._network

    def features(self, batches: Iterable[Any]) -> np.ndarray:
        """Pool3 features (num_images, 2048) of image batches, in float64."""
        network, device = self.network, self.device
        chunks = []
        for batch in batches:
            images = to_model_input(batch, device)
            for start in range(0, images.shape[0], self.params.batch_size):
                chunk = images[start:start + self.params.batch_size]
                chunks.append(network(chunk).double().cpu().numpy())
        if not chunks:
            raise ValueError("no images were given to FID")
        return np.concatenate(chunks)

    def statistics(self, batches: Iterable[Any]) -> FeatureStatistics:
        """Feature mean and covariance of image batches."""
        return FeatureStatistics.from_features(self.features(batches))

    def __call__(self, generated: Iterable[Any], reference: Any) -> dict[str, float]:
        # Load the network before reading either stream: a run's samples are drawn lazily,
        # and missing weights should stop an evaluation before it samples, not after.
        _ = self.network
        if isinstance(reference, (str, Path)):
            reference = FeatureStatistics.load(reference)
        if not isinstance(reference, FeatureStatistics):
            reference = self.statistics(reference)
        fake = self.statistics(generated)
        return {
            "fid": frechet_distance(fake.mu, fake.sigma, reference.mu, reference.sigma,
                                    matrix_root=self.params.matrix_root),
            "num_generated": float(fake.num_samples),
            "num_reference": float(reference.num_samples),
        }


def build(params: Any, **_runtime: Any) -> FID:
    """Build the ``fid`` metric plugin (the network loads on first use)."""
    return FID(params)
