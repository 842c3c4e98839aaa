"""The Python API: load a run and encode a batch in two lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tool_runs import FACTOR_DIM, NUM_FACTORS

from disdiff_core.data.store import open_store
from disdiff_core.errors import RunError
from disdiff_core.loading import encode_images, load_disdiff


def test_two_line_api(disdiff_run: Path, toy_store: Path) -> None:
    images = open_store(toy_store).read(0, 5)
    model = load_disdiff(disdiff_run, device="cpu")
    z = encode_images(model, images)
    assert z.shape == (5, NUM_FACTORS, FACTOR_DIM)
    assert not model.encoder.training
    floats = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(encode_images(model, floats, batch_size=2), z)


def test_weights_are_the_runs(disdiff_run: Path) -> None:
    from safetensors.torch import load_file

    model = load_disdiff(disdiff_run, device="cpu")
    saved = load_file(str(disdiff_run / "weights" / "field.safetensors"))
    for name, tensor in model.field.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])


def test_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run directory"):
        load_disdiff(tmp_path)


def test_missing_weights(disdiff_run: Path, tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text((disdiff_run / "recipe.yaml").read_text())
    with pytest.raises(RunError, match="no exported weights"):
        load_disdiff(tmp_path)


def test_backbone_run_is_not_a_disdiff_run(disdiff_run: Path) -> None:
    with pytest.raises(RunError, match="not a disdiff run"):
        load_disdiff(disdiff_run.parent / "backbone")


def test_codes_are_finite(disdiff_run: Path, toy_store: Path) -> None:
    z = encode_images(load_disdiff(disdiff_run, device="cpu"), open_store(toy_store).read(0, 3))
    assert np.isfinite(z.numpy()).all()
