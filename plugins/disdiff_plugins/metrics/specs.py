"""Metric plugin specs (torch-free). Defaults are disentanglement_lib's unsupervised-study v1
settings (``config/unsupervised_study_v1/metric_configs``), not its code defaults, so that a
plain run reproduces published numbers. Field names are the metric functions' keyword arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from disdiff_core.plugin import Params, PluginSpec

#: How the Fréchet distance computes Tr(√(Σ₁Σ₂)) (see ``frechet.py``).
MatrixRoot = Literal["sqrtm", "eigh"]

_POINTS = "observations drawn per batch when sampling (dlib: 16)"


class FactorVAEParams(Params):
    """FactorVAE score settings (dlib study: 64 / 10000 / 5000 / 10000 / 0.05)."""

    batch_size: int = Field(64, ge=2, description="observations per vote (one factor fixed)")
    num_train: int = Field(10000, ge=1, description="votes building the majority-vote classifier")
    num_eval: int = Field(5000, ge=1, description="fresh votes scoring the classifier (the score)")
    num_variance_estimate: int = Field(
        10000, ge=2, description="observations for each code's global variance"
    )
    prune_threshold: float = Field(
        0.05, ge=0, description="codes whose global standard deviation is below this are ignored"
    )


class DCIParams(Params):
    """DCI settings (dlib study: 10000 train / 5000 test points)."""

    num_train: int = Field(10000, ge=2, description="points the per-factor classifiers train on")
    num_test: int = Field(5000, ge=1, description="points for test accuracy (informativeness)")
    batch_size: int = Field(16, ge=1, description=_POINTS)
    mode: Literal["exact", "fast"] = Field(
        "exact",
        description="exact: sklearn GradientBoostingClassifier as dlib (its numbers); fast: "
        "HistGradientBoostingClassifier split-gain importances (NOT dlib's numbers, much faster)",
    )


class MIGParams(Params):
    """Mutual Information Gap settings (dlib study: 10000 points, 20 histogram bins)."""

    num_train: int = Field(10000, ge=2, description="points the mutual information is estimated on")
    num_bins: int = Field(20, ge=2, description="equal-width histogram bins per code")
    batch_size: int = Field(16, ge=1, description=_POINTS)


class SAPParams(Params):
    """SAP settings (dlib study: 10000 train / 5000 test points, discrete factors)."""

    num_train: int = Field(10000, ge=2, description="points each single-code linear SVM trains on")
    num_test: int = Field(5000, ge=1, description="points the SVM accuracies are measured on")
    batch_size: int = Field(16, ge=1, description=_POINTS)


class BetaVAEParams(Params):
    """β-VAE score settings (dlib study: 64 / 10000 / 5000)."""

    batch_size: int = Field(64, ge=1, description="observation pairs averaged into one point")
    num_train: int = Field(10000, ge=2, description="points the logistic regression trains on")
    num_eval: int = Field(5000, ge=1, description="points the reported accuracy is measured on")


class ModularityParams(Params):
    """Modularity/explicitness settings (dlib study: 10000 / 5000 points, 20 bins)."""

    num_train: int = Field(10000, ge=2, description="points for mutual information and training")
    num_test: int = Field(5000, ge=1, description="points for the test ROC-AUC")
    num_bins: int = Field(20, ge=2, description="equal-width histogram bins per code")
    batch_size: int = Field(16, ge=1, description=_POINTS)


class TADParams(Params):
    """TAD settings (the NashAE / InfoDiffusion / DisDiff evaluation scripts' constants)."""

    min_range: float = Field(
        0.2, ge=0, description="a code dimension is a detector only if max - min exceeds this"
    )
    num_thresholds: int = Field(
        11, ge=2, description="thresholds at evenly spaced fractions 0..1 of each dimension's range"
    )
    auroc_threshold: float = Field(
        0.75, ge=0, le=1, description="an attribute counts if its best AUROC reaches this"
    )
    max_entropy_reduction: float = Field(
        0.2, ge=0, le=1,
        description="an attribute counts only if no other attribute explains more of its entropy",
    )
    num_images: int | None = Field(
        None, ge=2, description="score a random subset of this many images (default: all)"
    )


class FIDParams(Params):
    """FID settings. The Inception weights are a local file: nothing is downloaded."""

    weights: str | None = Field(
        None,
        description="torchvision inception_v3 state dict file (.pth/.safetensors); default: the "
        "DISDIFF_INCEPTION_WEIGHTS environment variable",
    )
    num_samples: int = Field(
        10000, ge=2, description="generated and real images the evaluation feeds (paper: 10k each)"
    )
    batch_size: int = Field(50, ge=1, description="images per Inception forward pass")
    device: str | None = Field(None, description="torch device; default: cuda when present")
    matrix_root: MatrixRoot = Field(
        "sqrtm",
        description="Tr sqrt(S1 S2) of the Frechet distance: sqrtm: scipy.linalg.sqrtm as "
        "pytorch-fid (published FIDs use it); eigh: symmetric eigenvalue form (equal to rounding, "
        "4-5x faster at 2048 dims)",
    )


_MODULE = "disdiff_plugins.metrics"

FACTORVAE = PluginSpec(
    kind="metric",
    name="factorvae",
    description="FactorVAE score (majority vote over least-varying codes), as disentanglement_lib",
    params=FactorVAEParams,
    factory=f"{_MODULE}.factor_vae:build",
)
DCI = PluginSpec(
    kind="metric",
    name="dci",
    description="DCI disentanglement/completeness/informativeness, as disentanglement_lib",
    params=DCIParams,
    factory=f"{_MODULE}.dci:build",
)
MIG = PluginSpec(
    kind="metric",
    name="mig",
    description="Mutual Information Gap (20-bin histograms), as disentanglement_lib",
    params=MIGParams,
    factory=f"{_MODULE}.mig:build",
)
SAP = PluginSpec(
    kind="metric",
    name="sap",
    description="SAP score with single-code linear SVMs, as disentanglement_lib",
    params=SAPParams,
    factory=f"{_MODULE}.sap:build",
)
BETAVAE = PluginSpec(
    kind="metric",
    name="betavae",
    description="beta-VAE score (logistic regression on pair differences), as disentanglement_lib",
    params=BetaVAEParams,
    factory=f"{_MODULE}.beta_vae:build",
)
MODULARITY = PluginSpec(
    kind="metric",
    name="modularity",
    description="Modularity and explicitness (Ridgeway & Mozer), as disentanglement_lib",
    params=ModularityParams,
    factory=f"{_MODULE}.modularity:build",
)
TAD = PluginSpec(
    kind="metric",
    name="tad",
    description="Total AUROC Difference over binary attributes (CelebA), InfoDiffusion protocol",
    params=TADParams,
    factory=f"{_MODULE}.tad:build",
)
FID = PluginSpec(
    kind="metric",
    name="fid",
    description="Frechet Inception Distance from a local Inception-v3 weights file",
    params=FIDParams,
    factory=f"{_MODULE}.fid:build",
)
