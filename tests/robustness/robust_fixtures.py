"""Shared inputs of the robustness tests: a small store with factors, and the property every
reader must keep (a result, or a DisdiffError with a message; nothing else)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.data.store import StoreMetadata, create_store
from disdiff_core.errors import DisdiffError

T = TypeVar("T")
#: Settings of every property test here: bounded, no deadline (the machine is shared), no
#: example database (it would be a ``.hypothesis`` folder in the working tree), and no health
#: check against the module-scoped folders the tests write their inputs into.
BOUNDED = settings(max_examples=100, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Any JSON document, small.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 30) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=8,
)
#: The factor grid of :func:`write_grid_store`: 2 × 3 × 4 = 24 rows in canonical order.
GRID = GroundTruth([2, 3, 4], ["a", "b", "c"])


def grid_factors() -> np.ndarray:
    """(24, 3) int32 factor indices of every row of :data:`GRID`."""
    rows = np.arange(GRID.num_rows)
    return np.stack(np.unravel_index(rows, GRID.factor_sizes), axis=1).astype(np.int32)


def write_grid_store(path: Path) -> Path:
    """A complete store of :data:`GRID` (black 4×4 images)."""
    meta = StoreMetadata(name="grid", factor_names=GRID.factor_names,
                         factor_sizes=GRID.factor_sizes)
    with create_store(path, meta, num_images=GRID.num_rows, image_shape=(4, 4, 3)) as writer:
        writer.write(np.zeros((GRID.num_rows, 4, 4, 3), np.uint8), factors=grid_factors())
    return path


def result_or_user_error(call: Callable[[], T]) -> T | DisdiffError:
    """``call()``'s result, or the DisdiffError it raised, checked to carry a message; any
    other exception propagates and fails the test that asked."""
    try:
        return call()
    except DisdiffError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return exc


def put_value(data: Any, path: list[Any], value: Any) -> None:
    """Replace (or add) the item at ``path`` (keys and list positions, taken modulo the list's
    length) with ``value``; stops where the path leaves the containers."""
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(data, list) and data:
            key = int(key) % len(data) if isinstance(key, int) else 0
        elif not isinstance(data, dict):
            return
        if last or (isinstance(data, dict) and key not in data):
            data[key] = value
            return
        data = data[key]
