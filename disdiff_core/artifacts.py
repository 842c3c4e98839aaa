"""A run's artifact store, ``RUN/artifacts.zarr``: arrays that commands compute from a run and
that are worth keeping beside it, one zarr array per artifact at the top of the group.

* ``codes-step<N>-<store>``: the codes ``disdiff eval`` encoded, float32 (images, N, D) in the
  store's row order, so they can be scored again without the model
  (``disdiff eval-codes RUN/artifacts.zarr --key codes-… --data STORE``);
* ``samples-<mode>-step<N>``: the images ``disdiff sample`` drew, uint8 (…, H, W, C).

Each array carries what made it in its attributes. An artifact is written under a temporary
name and renamed into place, so a reader never meets half an array; writing one again (the same
step, store or mode) replaces it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from disdiff_core.io import atomic_path
from disdiff_core.runs import ARTIFACTS_DIR

#: Bytes per chunk an artifact aims at (whole rows along its first axis).
CHUNK_BYTES = 16 << 20


def artifact_name(kind: str, step: int, label: str | None = None) -> str:
    """``<kind>-step<N>[-<label>]``, with anything but letters, digits, ``.``, ``_`` and ``-``
    in the label replaced (a store name can hold spaces)."""
    name = f"{kind}-step{step:07d}"
    return f"{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)}" if label else name


def save_artifact(run_dir: str | Path, name: str, array: np.ndarray,
                  attrs: dict[str, Any]) -> Path:
    """Write ``array`` (with ``attrs``) as ``RUN/artifacts.zarr/<name>``, atomically; returns
    its path."""
    import zarr

    root = Path(run_dir) / ARTIFACTS_DIR
    zarr.open_group(store=str(root), mode="a", zarr_format=3)
    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    rows = max(1, min(len(array), CHUNK_BYTES // row_bytes)) if array.ndim else 1
    with atomic_path(root / name, directory=True) as tmp:
        stored = zarr.create_array(store=str(tmp), shape=array.shape, dtype=array.dtype,
                                   chunks=(rows, *array.shape[1:]) if array.ndim else (),
                                   zarr_format=3)
        stored[...] = array
        stored.attrs.update(attrs)
    return root / name


def list_artifacts(run_dir: str | Path) -> list[str]:
    """Names of the artifacts a run holds, sorted ([] when it has none)."""
    root = Path(run_dir) / ARTIFACTS_DIR
    if not (root / "zarr.json").is_file():
        return []
    return sorted(child.name for child in root.iterdir()
                  if child.is_dir() and not child.name.startswith(".")
                  and (child / "zarr.json").is_file())


def codes_name(step: int, store_path: str | Path) -> str:
    """The artifact name of a run's codes of the store at ``store_path`` at ``step``."""
    return artifact_name("codes", step, Path(store_path).stem)


def save_codes(run_dir: str | Path, step: int, store_path: str | Path,
               codes: np.ndarray) -> Path:
    """Keep the codes a run's EMA encoder gave every image of a store (``codes-step<N>-<store>``)."""
    return save_artifact(run_dir, codes_name(step, store_path), codes,
                         {"store": str(store_path), "step": step,
                          "encoder": "EMA (exported) weights, eval mode"})
