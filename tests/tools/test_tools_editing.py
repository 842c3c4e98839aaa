"""Editing with a loaded run: shapes, determinism, and that reconstruction keeps identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tool_runs import IMAGE, NUM_FACTORS, SAMPLER_STEPS

from disdiff_core import editing
from disdiff_core.data.store import open_store
from disdiff_core.errors import DisdiffError
from disdiff_core.loading import encode_images, load_disdiff, read_run_recipe
from disdiff_core.recipes.model import Component


@pytest.fixture(scope="module")
def model(disdiff_run: Path):
    return load_disdiff(disdiff_run, device="cpu")


@pytest.fixture(scope="module")
def sampler(disdiff_run: Path):
    return editing.build_sampler(read_run_recipe(disdiff_run).sample.sampler)


@pytest.fixture(scope="module")
def images(toy_store: Path) -> np.ndarray:
    return open_store(toy_store).read(0, 6)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def test_build_sampler_steps() -> None:
    assert len(editing.build_sampler(Component(plugin="ddim"), steps=7).timesteps(100)) == 7
    ddpm = editing.build_sampler(Component(plugin="ddpm", params={"steps": 4}), invertible=True)
    assert ddpm.can_invert and len(ddpm.timesteps(100)) == 4


def test_reconstruct_keeps_identity(model, sampler, images) -> None:
    """DDIM inversion + η = 0 sampling returns the input almost exactly (the random model is
    still a fixed ε-function, so inversion is exact up to discretisation), far closer than a
    sample from fresh noise conditioned on the same codes."""
    recon = editing.reconstruct(model, sampler, images)
    fresh = editing.generate(model, sampler, images=images,
                             generator=torch.Generator().manual_seed(0))
    assert recon.shape == fresh.shape == (6, IMAGE, IMAGE, 3) and recon.dtype == np.uint8
    assert _mse(recon, images) < 0.25 * _mse(fresh, images)
    np.testing.assert_array_equal(editing.reconstruct(model, sampler, images, batch_size=4), recon)


def test_generate_is_seeded(model, sampler) -> None:
    first = editing.generate(model, sampler, 3, generator=torch.Generator().manual_seed(1))
    again = editing.generate(model, sampler, 3, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(first, again)
    assert first.shape == (3, IMAGE, IMAGE, 3)


def test_swap_with_own_code_is_reconstruction(model, sampler, images) -> None:
    """Taking factor k from the source itself changes nothing: every cell is the source's
    reconstruction."""
    cells = editing.swap(model, sampler, images[:1], images[:3])
    assert cells.shape == (NUM_FACTORS, 3, IMAGE, IMAGE, 3)
    recon = editing.reconstruct(model, sampler, images[:1])[0]
    for k in range(NUM_FACTORS):
        np.testing.assert_allclose(cells[k, 0], recon, atol=1)


def test_swap_from_noise_shares_one_noise(model, sampler, images) -> None:
    """From noise, every cell starts from the same y_T: a cell whose code is the source's own
    is the unedited sample of that noise, and the cells are not the inverted start's."""
    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(3)

    cells = editing.swap(model, sampler, images[:1], images[:3], start="noise",
                         generator=seeded())
    assert cells.shape == (NUM_FACTORS, 3, IMAGE, IMAGE, 3)
    own = editing.unedited(model, sampler, images[:1], start="noise", generator=seeded())[0]
    for k in range(NUM_FACTORS):
        np.testing.assert_allclose(cells[k, 0], own, atol=1)
    inverted = editing.swap(model, sampler, images[:1], images[:3])
    assert _mse(cells, inverted) > 10 * _mse(cells[:, 0], np.broadcast_to(own, cells[:, 0].shape))
    with pytest.raises(DisdiffError, match="unknown edit start 'random'"):
        editing.swap(model, sampler, images[:1], images[:3], start="random")


def test_interpolate_ends(model, sampler, images) -> None:
    cells = editing.interpolate(model, sampler, images[:1], images[1:2], 4)
    assert cells.shape == (NUM_FACTORS, 4, IMAGE, IMAGE, 3)
    swapped = editing.swap(model, sampler, images[:1], images[1:2])
    np.testing.assert_allclose(cells[:, -1], swapped[:, 0], atol=1)


def test_traverse_spans_the_codes(model, sampler, images) -> None:
    codes = encode_images(model, images)
    mean, direction, spread = editing.principal_directions(codes)
    assert direction.shape == mean.shape == codes.shape[1:]
    torch.testing.assert_close(direction.norm(dim=-1), torch.ones(NUM_FACTORS))
    assert (spread > 0).all()
    cells = editing.traverse(model, sampler, images[:1], codes, 5)
    assert cells.shape == (NUM_FACTORS, 5, IMAGE, IMAGE, 3)
    assert SAMPLER_STEPS == len(sampler.timesteps(100))
