"""Checkpoints without pickled code: safetensors for tensors, JSON for everything else.

Layout under ``RUN/checkpoints/``::

    step-0005000/
      model.safetensors   state_dict of the trained module
      ema.safetensors     the EMA shadow (trained parameters and buffers), when EMA is on
      state.safetensors   every other tensor: optimiser moments, RNG states
      state.json          step, counters, config and its hash, optimiser hyper-parameters,
                          per-rank RNG and data-iterator states; tensors appear there as
                          {"__tensor__": "<key in state.safetensors>"}
    latest                the name of the newest complete checkpoint folder

A checkpoint folder is written under a temporary name, flushed to disk and renamed when
complete, then ``latest`` is replaced the same way (:func:`disdiff_core.io.atomic_path`), so a
crash or SIGKILL at any moment never leaves a half checkpoint under a final name, and
``latest`` always names a complete one. Only the newest ``keep`` folders are kept.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from disdiff_core.errors import RunError
from disdiff_core.io import atomic_path, write_text_atomic

MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
STATE_TENSORS_FILE = "state.safetensors"
STATE_FILE = "state.json"
LATEST_FILE = "latest"
FORMAT_VERSION = 1
_TENSOR_REF = "__tensor__"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    """``step-0005000``: sorts by name in step order up to 10 million steps."""
    return f"step-{step:07d}"


@dataclass
class Checkpoint:
    """The contents of one checkpoint folder, tensors on the CPU."""

    path: Path
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    state: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name


# -- tensors inside JSON trees -------------------------------------------------------------
def split_tensors(tree: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace every tensor in a tree of dicts/lists/tuples by a reference, returning the
    JSON-ready tree and the tensors by their path (``optimizer/state/3/exp_avg``)."""
    tensors: dict[str, torch.Tensor] = {}

    def visit(node: Any, path: str) -> Any:
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().to("cpu", copy=True).contiguous()
            return {_TENSOR_REF: path}
        if isinstance(node, Mapping):
            return {str(key): visit(value, f"{path}/{key}" if path else str(key))
                    for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [visit(value, f"{path}/{index}" if path else str(index))
                    for index, value in enumerate(node)]
        return node

    return visit(tree, prefix), tensors


def join_tensors(tree: Any, tensors: Mapping[str, torch.Tensor], source: Path) -> Any:
    """Inverse of :func:`split_tensors` (tuples come back as lists)."""
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR_REF}:
            key = tree[_TENSOR_REF]
            if key not in tensors:
                raise RunError(f"checkpoint file {source} lacks tensor {key!r}")
            return tensors[key]
        return {key: join_tensors(value, tensors, source) for key, value in tree.items()}
    if isinstance(tree, list):
        return [join_tensors(value, tensors, source) for value in tree]
    return tree


# -- optimiser state -----------------------------------------------------------------------
def optimizer_state_to_tree(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A torch optimiser ``state_dict`` with its integer parameter keys made strings."""
    return {
        "state": {str(index): dict(values) for index, values in state_dict["state"].items()},
        "param_groups": [dict(group) for group in state_dict["param_groups"]],
    }


#: Optimiser flags that choose an implementation for this device, not training state.
IMPLEMENTATION_FLAGS = ("fused", "foreach", "capturable", "differentiable")


def optimizer_state_from_tree(tree: Mapping[str, Any],
                              current_groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_state_to_tree`; list hyper-parameters (``betas``) become
    tuples again, as the optimiser created them. The implementation flags of the current
    optimiser are kept, so a checkpoint written on a GPU (fused AdamW) resumes on a CPU, and a
    group entry the checkpoint predates (``lr_scale``) is taken from the current group."""
    groups = []
    for index, group in enumerate(tree["param_groups"]):
        restored = {key: tuple(value) if isinstance(value, list) and key != "params" else value
                    for key, value in group.items()}
        if index < len(current_groups):
            current = current_groups[index]
            restored.update({key: current[key] for key in IMPLEMENTATION_FLAGS if key in current})
            restored.update({key: value for key, value in current.items()
                             if key not in restored and key != "params"})
        groups.append(restored)
    return {"state": {int(index): values for index, values in tree["state"].items()},
            "param_groups": groups}


# -- files ---------------------------------------------------------------------------------
def _cpu_state(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # A copy per entry: tied weights would otherwise share storage, which safetensors refuses.
    return {name: tensor.detach().to("cpu", copy=True).contiguous()
            for name, tensor in tensors.items()}


def write_checkpoint(
    directory: Path,
    step: int,
    *,
    model: Mapping[str, torch.Tensor],
    ema: Mapping[str, torch.Tensor] | None,
    state: Mapping[str, Any],
    keep: int,
) -> Path:
    """Write ``directory/step-XXXXXXX`` atomically, point ``latest`` at it, prune old ones."""
    final = directory / checkpoint_name(step)
    tree, tensors = split_tensors(dict(state))
    tree = {"format": FORMAT_VERSION, **tree}
    metadata = {"format": str(FORMAT_VERSION), "step": str(step)}
    with atomic_path(final, directory=True) as tmp:
        save_file(_cpu_state(model), str(tmp / MODEL_FILE), metadata=metadata)
        if ema is not None:
            save_file(_cpu_state(ema), str(tmp / EMA_FILE), metadata=metadata)
        save_file(tensors, str(tmp / STATE_TENSORS_FILE), metadata=metadata)
        (tmp / STATE_FILE).write_text(json.dumps(tree, indent=1) + "\n", encoding="utf-8")
    write_text_atomic(directory / LATEST_FILE, final.name + "\n")
    prune_checkpoints(directory, keep)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (temporary folders are hidden, not listed)."""
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir()
             if path.is_dir() and (match := _STEP_DIR.match(path.name))]
    return [path for _, path in sorted(found)]


def prune_checkpoints(directory: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoint folders."""
    for path in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def latest_checkpoint(directory: Path) -> Path | None:
    """The folder ``latest`` names (or the newest folder if ``latest`` was never written);
    None when there is no checkpoint. A ``latest`` naming a missing folder is an error."""
    pointer = directory / LATEST_FILE
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        target = directory / name
        if not _STEP_DIR.match(name) or not target.is_dir():
            raise RunError(f"{pointer} names checkpoint {name!r}, which does not exist")
        return target
    found = list_checkpoints(directory)
    return found[-1] if found else None


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise RunError(f"checkpoint file {path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RunError(f"checkpoint file {path} is corrupt: {exc}") from None


def read_state_tree(path: Path) -> dict[str, Any]:
    """A checkpoint folder's ``state.json`` (step, counters, config; tensors as references),
    without loading any tensor; a missing or corrupt file is a :class:`RunError` naming it."""
    if not path.is_dir():
        raise RunError(f"checkpoint {path} does not exist")
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise RunError(f"checkpoint file {state_file} is missing")
    try:
        tree = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"checkpoint file {state_file} is corrupt: {exc}") from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT_VERSION:
        raise RunError(f"checkpoint file {state_file} is not a format-{FORMAT_VERSION} "
                       "disdiff training state")
    return tree


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint folder; a missing or corrupt file is a :class:`RunError` naming it."""
    tree = read_state_tree(path)
    state_tensors = path / STATE_TENSORS_FILE
    state = join_tensors(tree, _read_tensors(state_tensors), state_tensors)
    ema_file = path / EMA_FILE
    return Checkpoint(
        path=path,
        model=_read_tensors(path / MODEL_FILE),
        ema=_read_tensors(ema_file) if ema_file.exists() else None,
        state=state,
    )
