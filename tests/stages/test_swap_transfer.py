"""experiments/swap_transfer.py reads a surface's colour only where that surface alone is seen:
re-colouring the floor moves the floor's reading by the whole change and no other reading."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from disdiff_core import registry

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "swap_transfer.py"


def load_script():
    spec = importlib.util.spec_from_file_location("swap_transfer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_surface_reading_moves_with_its_own_hue_only() -> None:
    script = load_script()
    renderer = registry.build("dataset", "synth-shapes3d", {"size": 16, "supersample": 2})
    scene = np.array([[0, 3, 6, 4, 1, 7]])  # floor, wall, object hue; scale, shape, orientation
    masks = script.surface_masks(renderer, scene)
    assert masks.shape == (1, 3, 16, 16) and masks.sum(axis=(2, 3)).min() > 0
    assert not (masks.sum(axis=1) > 1).any()  # no pixel counts for two surfaces
    base = script.region_colours(renderer.render(scene), masks)[0]
    for surface in range(3):
        recoloured = scene.copy()
        recoloured[0, surface] = (scene[0, surface] + 5) % 10
        moved = script.region_colours(renderer.render(recoloured), masks)[0] - base
        assert np.abs(moved[surface]).max() > 0.2
        others = [s for s in range(3) if s != surface]
        assert np.abs(moved[others]).max() < 0.01


def test_best_rows_name_the_row_that_carries_each_colour() -> None:
    transfer = np.array([[0.0, 0.6, 0.1], [0.3, 0.0, 0.0], [0.1, 0.1, 0.05]])
    best = load_script().best_rows(transfer)
    assert best["floor_hue"] == {"row": 1, "transfer": 0.3, "other": 0.0}
    assert best["wall_hue"] == {"row": 0, "transfer": 0.6, "other": 0.1}
    assert best["object_hue"]["row"] == 0
