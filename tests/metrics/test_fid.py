"""The Fréchet distance against closed forms, and the FID plugin's plumbing."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from disdiff_core.errors import DisdiffError
from disdiff_plugins.metrics import fid
from disdiff_plugins.metrics.frechet import FeatureStatistics, frechet_distance
from disdiff_plugins.metrics.specs import FID

ROOTS = pytest.mark.parametrize("matrix_root", ["sqrtm", "eigh"])


def random_covariance(rng: np.random.RandomState, dim: int, rank: int | None = None) -> np.ndarray:
    """X.T @ X / n of Gaussian features X (n = rank, default 4·dim: full rank)."""
    features = rng.randn(rank or 4 * dim, dim) * rng.uniform(0.5, 2.0, dim)
    return features.T @ features / features.shape[0]


@ROOTS
def test_diagonal_gaussians_match_the_closed_form(matrix_root) -> None:
    # Commuting covariances: Tr √(Σ₁Σ₂) = Σ √(aᵢbᵢ), so d² = ‖μ₁−μ₂‖² + Σ (√aᵢ − √bᵢ)².
    rng = np.random.RandomState(0)
    mu1, mu2 = rng.randn(6), rng.randn(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    distance = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), matrix_root=matrix_root)
    assert distance == pytest.approx(expected, rel=1e-10)


@ROOTS
def test_rotated_gaussians_match_the_closed_form(matrix_root) -> None:
    # Σ₂ = R Σ₁ Rᵀ with R a rotation: same spectrum, so for commuting Σ₁ = s·I the distance is
    # ‖μ₁−μ₂‖² + 0; with Σ₁ = I and Σ₂ = 4·I it is ‖μ₁−μ₂‖² + d·(2−1)².
    q, _ = np.linalg.qr(np.random.RandomState(1).randn(5, 5))
    distance = frechet_distance(np.zeros(5), np.eye(5), np.ones(5), q @ (4 * np.eye(5)) @ q.T,
                                matrix_root=matrix_root)
    assert distance == pytest.approx(5.0 + 5.0, rel=1e-9)


@ROOTS
def test_identical_statistics_are_at_distance_zero_even_when_singular(matrix_root) -> None:
    # Zero up to rounding: √ of a covariance's rounding-level null eigenvalues is ~1e-8 of its
    # scale, so both roots can land ~1e-6 below 0 on singular covariances.
    features = np.random.RandomState(2).randn(3, 8)  # rank-2 covariance of 8 dims
    stats = FeatureStatistics.from_features(features)
    distance = frechet_distance(stats.mu, stats.sigma, stats.mu, stats.sigma,
                                matrix_root=matrix_root)
    assert distance == pytest.approx(0.0, abs=1e-4)


def test_eigh_root_equals_sqrtm_on_full_rank_covariances() -> None:
    rng = np.random.RandomState(4)
    for _ in range(3):
        mu1, mu2 = rng.randn(64), rng.randn(64)
        sigma1, sigma2 = random_covariance(rng, 64), random_covariance(rng, 64)
        by_root = {root: frechet_distance(mu1, sigma1, mu2, sigma2, matrix_root=root)
                   for root in ("sqrtm", "eigh")}
        assert by_root["eigh"] >= 0
        assert by_root["eigh"] == pytest.approx(by_root["sqrtm"], rel=1e-10)


def test_eigh_root_handles_a_rank_deficient_covariance() -> None:
    # Σ₁ of rank 3 in 16 dims: its eigenvalues are zero up to rounding (some negative); the
    # result stays finite, non-negative and agrees with sqrtm to that root's accuracy.
    rng = np.random.RandomState(5)
    mu1, mu2 = rng.randn(16), rng.randn(16)
    sigma1, sigma2 = random_covariance(rng, 16, rank=3), random_covariance(rng, 16)
    assert np.linalg.eigvalsh(sigma1).min() < 1e-12
    eigh = frechet_distance(mu1, sigma1, mu2, sigma2, matrix_root="eigh")
    assert np.isfinite(eigh) and eigh >= 0
    assert eigh == pytest.approx(frechet_distance(mu1, sigma1, mu2, sigma2), rel=1e-5)


def test_an_unknown_matrix_root_is_an_error() -> None:
    with pytest.raises(ValueError, match="matrix_root"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), matrix_root="schur")


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


def test_fid_plugin_passes_its_matrix_root_to_the_distance(monkeypatch) -> None:
    assert FID.build({}).params.matrix_root == "sqrtm"
    with pytest.raises(pydantic.ValidationError, match="matrix_root"):
        FID.build({"matrix_root": "schur"})
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["matrix_root"])
        return frechet_distance(*args, **kwargs)

    monkeypatch.setattr(fid, "frechet_distance", spy)
    metric = FID.build({"device": "cpu", "matrix_root": "eigh"})
    metric._network = MeanColour()
    batches = [torch.rand(6, 3, 8, 8) * 2 - 1]
    assert metric(batches, batches)["fid"] == pytest.approx(0.0, abs=1e-6)
    assert seen == ["eigh"]
