"""`disdiff eval RUN --metrics fid`: image metrics score the run's samples (fresh noise under the
codes of store images) against other store images, beside the code metrics, in one record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from disdiff_cli.app import app
from disdiff_core.data.store import open_store
from disdiff_core.editing import build_sampler, generate
from disdiff_core.evaluation.samples import draw_rows, score_samples
from disdiff_core.interfaces.metric import ImageMetric
from disdiff_core.loading import load_disdiff
from disdiff_core.plugin import Params
from disdiff_core.recipes.model import Component
from disdiff_plugins.metrics import fid
from disdiff_plugins.metrics.fid import WEIGHTS_ENV


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised torchvision inception_v3 state dict: the real network and file
    format, without the ImageNet weights (which nothing may download)."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def run(disdiff_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared tiny run without the results other tests wrote, so this file's
    own results are the only ones in it."""
    copy = tmp_path / "disdiff"
    shutil.copytree(disdiff_run, copy, ignore=shutil.ignore_patterns("eval"))
    return copy


class ChannelMoments(torch.nn.Module):
    """A stand-in for Inception's pool3: each channel's mean and standard deviation (6
    features). FID's 2048-d matrix square root alone takes tens of seconds on a CPU, which the
    slow test below pays once; wiring and bookkeeping do not need it."""

    def __init__(self, weights: Any = None) -> None:
        super().__init__()
        fid.resolve_weights(weights)  # the same check of the weights file as the real network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)


@pytest.fixture
def small_features(monkeypatch) -> None:
    monkeypatch.setattr(fid, "InceptionPool3", ChannelMoments)


class Counts(Params):
    num_samples: int = 5


class Recording(ImageMetric):
    """A stand-in image metric that keeps the two streams it was given."""

    calls: ClassVar[list[tuple[np.ndarray, np.ndarray]]] = []

    def __call__(self, generated: Any, reference: Any) -> dict[str, float]:
        self.calls.append((np.concatenate(list(generated)), np.concatenate(list(reference))))
        return {"seen": float(len(self.calls[-1][0]))}


def test_samples_are_fresh_noise_under_store_codes_against_other_store_images(
        disdiff_run: Path, toy_store: Path) -> None:
    model = load_disdiff(disdiff_run, "cpu")
    sampler = build_sampler(Component(plugin="ddim", params={"steps": 3}))
    store = open_store(toy_store)
    Recording.calls.clear()
    record = score_samples(model, sampler, store, {"rec": (Recording(Counts()), "test 0")},
                           seeds=[0, 0, 1], batch_size=8)
    assert record["metrics"]["rec"]["seen"]["values"] == [5.0, 5.0, 5.0]
    assert record["codes_used"]["rec"] == "samples"
    (first, first_ref), (again, again_ref), (other, other_ref) = Recording.calls

    random_state = np.random.RandomState(0)
    reference_rows = draw_rows(store.num_images, 5, random_state)
    condition_rows = draw_rows(store.num_images, 5, random_state)
    np.testing.assert_array_equal(first_ref, store.read_rows(reference_rows))
    expected = generate(model, sampler, images=store.read_rows(condition_rows),
                        generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(first, expected)
    assert first.dtype == np.uint8 and first.shape == (5, *store.image_shape)
    # a seed repeats itself exactly; another seed draws other images and other noise
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again_ref, first_ref)
    assert not np.array_equal(other, first) and not np.array_equal(other_ref, first_ref)
    assert len(np.unique(reference_rows)) == 5


def test_draw_rows_repeats_only_when_the_store_is_smaller() -> None:
    assert len(np.unique(draw_rows(10, 10, np.random.RandomState(0)))) == 10
    rows = draw_rows(3, 7, np.random.RandomState(0))
    assert len(rows) == 7 and set(rows) <= {0, 1, 2}


def fid_eval(cli, run: Path, store: Path, *args: str) -> dict[str, Any]:
    result = cli.invoke(app, ["eval", str(run), "--data", str(store), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("small_features")
def test_eval_scores_fid_of_samples_beside_a_code_metric(
        cli, run: Path, toy_store: Path, inception_weights: Path, monkeypatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    printed = fid_eval(cli, run, toy_store, "--metrics", "mig,fid", "--seeds", "2",
                       "--set", "mig.num_train=200", "--set", "fid.num_samples=6",
                       "--set", "fid.batch_size=4", "--set", f"fid.weights={inception_weights}")
    fid_numbers = printed["metrics"]["fid"]
    values = fid_numbers["fid"]["values"]
    assert len(values) == 2 and all(np.isfinite(v) and v > 0 for v in values)
    assert fid_numbers["num_generated"]["mean"] == fid_numbers["num_reference"]["mean"] == 6.0
    assert printed["codes_used"] == {"mig": "pca1", "fid": "samples"}
    assert printed["codes"]["reduction"] == "pca1"
    assert printed["samples"]["sampler"]["plugin"] == "ddim"
    assert printed["settings"]["fid"]["num_samples"] == 6
    written = sorted((run / "eval").glob("eval-step*.json"))
    assert json.loads(written[-1].read_text())["metrics"]["fid"] == fid_numbers


@pytest.mark.usefixtures("small_features")
def test_fid_alone_needs_no_codes_and_says_when_weights_are_missing(
        cli, run: Path, toy_store: Path, inception_weights: Path, monkeypatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    missing = cli.invoke(app, ["eval", str(run), "--data", str(toy_store),
                               "--metrics", "fid", "--seeds", "1"])
    assert missing.exit_code == 1
    assert WEIGHTS_ENV in missing.output and "Traceback" not in missing.output
    assert not list((run / "eval").glob("*.json"))  # nothing half-written

    monkeypatch.setenv(WEIGHTS_ENV, str(inception_weights))
    result = cli.invoke(app, ["eval", str(run), "--data", str(toy_store),
                              "--metrics", "fid", "--seeds", "1", "--set", "fid.num_samples=3"])
    assert result.exit_code == 0, result.output
    assert "the run's samples" in result.output
    record = json.loads(next((run / "eval").glob("eval-step*.json")).read_text())
    assert list(record["metrics"]) == ["fid"] and record["codes"]["num_codes"] == 0


@pytest.mark.slow
def test_fid_with_the_real_inception_network(cli, run: Path, toy_store: Path,
                                             inception_weights: Path) -> None:
    printed = fid_eval(cli, run, toy_store, "--metrics", "fid", "--seeds", "1",
                       "--set", "fid.num_samples=4", "--set", f"fid.weights={inception_weights}")
    assert np.isfinite(printed["metrics"]["fid"]["fid"]["mean"])
