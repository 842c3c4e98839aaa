"""Contract tests over the plugin registry (as timm and diffusers test every model they list):
every installed plugin of every kind, built-in or third-party, is checked the same way. Its
spec module imports without torch, its default parameters validate (where it has defaults),
its factory builds, and what it builds keeps its kind's interface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from contract_params import NOT_BUILT, TINY_UNET, small_params

from disdiff_core import registry
from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.data.store import open_store
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.backbone import Backbone
from disdiff_core.interfaces.dataset import DatasetPlugin
from disdiff_core.interfaces.encoder import RepresentationEncoder
from disdiff_core.interfaces.field import GradientField
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_core.interfaces.importer import CheckpointImporter
from disdiff_core.interfaces.metric import AttributeMetric, FactorMetric, ImageMetric, Metric
from disdiff_core.interfaces.sampler import Sampler
from disdiff_core.plugin import KINDS

ENTRIES = [entry for kind in KINDS for entry in registry.list_plugins(kind)]
PLUGINS = [pytest.param(entry.kind, entry.name, id=f"{entry.kind}:{entry.name}")
           for entry in ENTRIES]
SPEC_MODULES = sorted({entry.target.partition(":")[0] for entry in ENTRIES})
#: Images in a store a dataset plugin writes here.
DATASET_LIMIT = 12


def _spec(kind: str, name: str) -> Any:
    return registry.get_plugin(kind, name)


def test_every_entry_point_loads() -> None:
    assert ENTRIES and not [(e.kind, e.name, e.error) for e in ENTRIES if e.error]


@pytest.mark.parametrize("module", SPEC_MODULES)
def test_spec_module_imports_without_torch(module: str) -> None:
    code = f"import sys, {module}\nassert 'torch' not in sys.modules, 'torch imported'\n"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_default_params_validate(kind: str, name: str) -> None:
    spec = _spec(kind, name)
    if any(field.is_required() for field in spec.params.model_fields.values()):
        pytest.skip(f"{kind} {name} has required parameters")
    assert isinstance(spec.validate({}), spec.params)


def _build(kind: str, name: str, **runtime: Any) -> Any:
    if (kind, name) in NOT_BUILT:
        pytest.skip(NOT_BUILT[kind, name])
    return registry.build(kind, name, small_params(kind, name), **runtime)


def _images(size: int, channels: int = 3, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "backbone"])
def test_backbone_predicts_noise_of_its_sample_shape(kind: str, name: str) -> None:
    backbone = _build(kind, name)
    assert isinstance(backbone, Backbone)
    y = torch.randn(2, *backbone.sample_shape)
    with torch.no_grad():
        assert backbone(y, torch.tensor([0, 1])).shape == y.shape


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "first_stage"])
def test_first_stage_round_trip_keeps_the_image_shape(kind: str, name: str) -> None:
    first_stage = _build(kind, name)
    assert isinstance(first_stage, FirstStage)
    x = _images(16)
    with torch.no_grad():
        y = first_stage.encode_scaled(x)
        assert tuple(y.shape[1:]) == first_stage.latent_shape((3, 16, 16))
        assert first_stage.decode_scaled(y).shape == x.shape


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "encoder"])
def test_encoder_gives_b_n_d(kind: str, name: str) -> None:
    encoder = _build(kind, name)
    assert isinstance(encoder, RepresentationEncoder)
    params = _spec(kind, name).validate(small_params(kind, name))
    with torch.no_grad():
        z = encoder(_images(params.image_size, getattr(params, "in_channels", 3)))
    assert z.shape == (2, encoder.num_factors, encoder.factor_dim)


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "field"])
def test_field_gives_one_field_per_requested_factor(kind: str, name: str) -> None:
    backbone = registry.build("backbone", "unet", TINY_UNET)
    field = _build(kind, name, backbone=backbone, num_factors=3, factor_dim=4)
    assert isinstance(field, GradientField) and (field.num_factors, field.factor_dim) == (3, 4)
    y, t = torch.randn(2, *backbone.sample_shape), torch.tensor([3, 50])
    with torch.no_grad():
        out = field(backbone.features(y, t), t, torch.randn(2, 3, 4), torch.tensor([[0], [2]]))
    assert out.shape == (2, 1, *backbone.sample_shape)


def _identity_eps(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(y)


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "sampler"])
def test_sampler_samples_and_inverts_when_it_says_it_can(kind: str, name: str) -> None:
    from disdiff_core.diffusion.schedule import NoiseSchedule

    sampler = _build(kind, name)
    assert isinstance(sampler, Sampler)
    schedule = NoiseSchedule({"num_timesteps": 100})
    y_T = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    y0 = sampler.sample(_identity_eps, schedule, y_T, generator=torch.Generator().manual_seed(1))
    assert y0.shape == y_T.shape and torch.isfinite(y0).all()
    if sampler.can_invert:
        inverted = sampler.invert(_identity_eps, schedule, y0)
        assert inverted.shape == y0.shape and torch.isfinite(inverted).all()
    else:
        with pytest.raises(DisdiffError):
            sampler.invert(_identity_eps, schedule, y0)


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "loss"])
def test_loss_describes_itself(kind: str, name: str) -> None:
    assert _build(kind, name).describe()


def _numbers(scores: Any) -> None:
    assert isinstance(scores, dict) and scores
    assert all(isinstance(k, str) and np.isfinite(float(v)) for k, v in scores.items()), scores


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "metric"])
def test_metric_returns_a_dict_of_numbers(kind: str, name: str) -> None:
    metric = _build(kind, name)
    assert isinstance(metric, Metric) and metric.mode in ("exact", "fast")
    rng = np.random.RandomState(0)
    if isinstance(metric, FactorMetric):
        ground_truth = GroundTruth([3, 4], ["a", "b"])
        factors = np.stack(np.unravel_index(np.arange(12), [3, 4]), axis=1).astype(float)
        codes = factors + 0.01 * rng.randn(*factors.shape)
        _numbers(metric(ground_truth, lambda rows: codes[rows], rng))
    elif isinstance(metric, AttributeMetric):
        attributes = (rng.rand(40, 3) > 0.5).astype(np.int64)
        _numbers(metric(attributes + 0.1 * rng.randn(40, 3), attributes, rng))
    else:
        assert isinstance(metric, ImageMetric)


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "dataset"])
def test_dataset_store_holds_the_grid_it_describes(kind: str, name: str, tmp_path: Path) -> None:
    dataset = _build(kind, name)
    assert isinstance(dataset, DatasetPlugin)
    out = tmp_path / "store.zarr"
    try:
        dataset.prepare(out, limit=DATASET_LIMIT)
    except DisdiffError:  # a reader of files it was not given: refused, nothing left behind
        assert not out.exists()
        return
    store = open_store(out)
    assert store.image_shape == dataset.image_shape
    assert list(store.factor_names) == list(dataset.factor_names)
    assert list(store.factor_sizes) == list(dataset.factor_sizes)
    assert store.num_images == min(DATASET_LIMIT, int(np.prod(dataset.factor_sizes or [1e9])))


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p.values[0] == "importer"])
def test_importer_refuses_missing_files_with_a_message(kind: str, name: str,
                                                       tmp_path: Path) -> None:
    importer = _build(kind, name)
    assert isinstance(importer, CheckpointImporter)
    with pytest.raises(DisdiffError, match="missing"):
        importer.import_checkpoint(tmp_path / "missing.ckpt", tmp_path / "runs",
                                   config=tmp_path / "missing.yaml",
                                   data_store="data/none.zarr", progress=lambda line: None)
    assert not (tmp_path / "runs").exists()
