"""Backbone weights as safetensors files that also record the noise schedule.

The file holds the backbone's ``state_dict()`` (schedule buffers are not persistent, so they are
not in it) and, in the safetensors metadata under :data:`SCHEDULE_KEY`, the schedule as JSON.
Loading checks that schedule against the one the backbone was built with: a backbone evaluated
under another schedule than it was trained with predicts garbage without any error.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.backbone import Backbone
from disdiff_core.io import atomic_path

SCHEDULE_KEY = "disdiff.schedule"


def save_backbone_weights(backbone: Backbone, path: str | Path) -> None:
    """Write the backbone's weights and schedule to ``path`` (atomically)."""
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    metadata = {SCHEDULE_KEY: json.dumps(backbone.schedule.to_dict())}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def load_backbone_weights(backbone: Backbone, path: str | Path) -> None:
    """Load weights written by :func:`save_backbone_weights` (or any safetensors file of the
    backbone's state dict) into ``backbone``; every mismatch is a DisdiffError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DisdiffError(
            f"backbone checkpoint {path} does not exist (expected a .safetensors file)"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise DisdiffError(f"cannot read backbone checkpoint {path}: {exc}") from exc
    stored = metadata.get(SCHEDULE_KEY)
    if stored is not None and json.loads(stored) != backbone.schedule.to_dict():
        raise DisdiffError(
            f"{path} was trained with the schedule {stored}, but the backbone is configured with "
            f"{json.dumps(backbone.schedule.to_dict())}; set the backbone's `schedule` to match"
        )
    expected = backbone.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        details = [
            f"{label}: {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", wrong))
            if keys
        ]
        raise DisdiffError(
            f"{path} does not fit this backbone's architecture (check its params) - "
            + "; ".join(details)
        )
    backbone.load_state_dict(state)
