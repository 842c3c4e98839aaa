"""The Fréchet distance against closed forms, and the FID plugin's plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disdiff_core.errors import DisdiffError
from disdiff_plugins.metrics import fid
from disdiff_plugins.metrics.frechet import FeatureStatistics, frechet_distance
from disdiff_plugins.metrics.specs import FID


def test_diagonal_gaussians_match_the_closed_form() -> None:
    rng = np.random.RandomState(0)
    mu1, mu2 = rng.randn(6), rng.randn(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    distance = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert distance == pytest.approx(expected, rel=1e-10)


def test_rotated_gaussians_match_the_closed_form() -> None:
    # Σ₂ = R Σ₁ Rᵀ with R a rotation: same spectrum, so for commuting Σ₁ = s·I the distance is
    # ‖μ₁−μ₂‖² + 0; with Σ₁ = I and Σ₂ = 4·I it is ‖μ₁−μ₂‖² + d·(2−1)².
    q, _ = np.linalg.qr(np.random.RandomState(1).randn(5, 5))
    distance = frechet_distance(np.zeros(5), np.eye(5), np.ones(5), q @ (4 * np.eye(5)) @ q.T)
    assert distance == pytest.approx(5.0 + 5.0, rel=1e-9)


def test_identical_statistics_are_at_distance_zero_even_when_singular() -> None:
    features = np.random.RandomState(2).randn(3, 8)  # rank-2 covariance of 8 dims
    stats = FeatureStatistics.from_features(features)
    distance = frechet_distance(stats.mu, stats.sigma, stats.mu, stats.sigma)
    assert distance == pytest.approx(0.0, abs=1e-4)


def test_statistics_round_trip(tmp_path) -> None:
    stats = FeatureStatistics.from_features(np.random.RandomState(3).randn(10, 4))
    stats.save(tmp_path / "ref.npz")
    loaded = FeatureStatistics.load(tmp_path / "ref.npz")
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    assert loaded.num_samples == 10


def test_missing_weights_say_what_to_provide(monkeypatch) -> None:
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)
    with pytest.raises(DisdiffError, match=r"DISDIFF_INCEPTION_WEIGHTS.*inception_v3"):
        fid.resolve_weights(None)
    with pytest.raises(DisdiffError, match="does not exist"):
        fid.resolve_weights("/nowhere/inception.pth")


def test_inception_loads_a_local_state_dict_and_gives_pool3_features(tmp_path, monkeypatch) -> None:
    import torchvision

    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "inception.pth")
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(tmp_path / "inception.pth"))
    features = fid.InceptionPool3()(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert features.shape == (2, 2048)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(DisdiffError, match="not a torchvision inception_v3 state dict"):
        fid.InceptionPool3(tmp_path / "wrong.pth")


class MeanColour(torch.nn.Module):
    """A stand-in feature network: the mean of each channel and its square (4 features)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.mean(dim=(2, 3))
        return torch.cat([mean, mean[:, :1] ** 2], dim=1)


def test_fid_plugin_reads_stored_and_sampled_batches() -> None:
    metric = FID.build({"device": "cpu", "batch_size": 3})
    metric._network = MeanColour()
    rng = np.random.RandomState(0)
    stored = [rng.randint(0, 256, size=(5, 8, 8, 3), dtype=np.uint8) for _ in range(2)]
    as_sampled = [torch.from_numpy(b).permute(0, 3, 1, 2).float() / 127.5 - 1 for b in stored]
    result = metric(as_sampled, stored)
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    assert result["num_generated"] == result["num_reference"] == 10.0
    shifted = [b * 0.5 + 0.5 for b in as_sampled]
    assert metric(shifted, metric.statistics(stored))["fid"] > 0.01
