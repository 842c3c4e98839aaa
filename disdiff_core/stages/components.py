"""Building a recipe's components, with frozen weights from an earlier run or a file.

Every run exports the final (EMA when available) weights of each component it trained or
measured to ``RUN/weights/<key>.safetensors``. ``from_run`` looks there first, then follows the
earlier run's own recipe (a DisDiff run's ``first_stage`` can point at the backbone run, whose
first stage came from the autoencoder run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from disdiff_core import registry
from disdiff_core.errors import DisdiffError, RunError
from disdiff_core.recipes.model import Component
from disdiff_core.recipes.resolve import component_of_run
from disdiff_core.recipes.yaml_io import read_yaml
from disdiff_core.stage_table import STAGE_NAMES, stage_spec

WEIGHTS_DIR = "weights"


def weights_path(run_dir: str | Path, key: str) -> Path:
    """Where a run keeps the exported weights of component ``key``."""
    return Path(run_dir) / WEIGHTS_DIR / f"{key}.safetensors"


def locate_weights(key: str, component: Component) -> tuple[Component, Path | None]:
    """The plugin/params to build and the weights file to load for a component.

    Follows ``from_run`` chains; returns (component with plugin and params, weights path or
    None for a component with nothing to load, e.g. the identity first stage)."""
    if component.checkpoint:
        path = Path(component.checkpoint)
        if not path.exists():
            raise DisdiffError(f"{key}.checkpoint: {path} does not exist")
        return component, path
    if component.from_run is None:
        return component, None
    run_dir = Path(component.from_run)
    node = component_of_run(run_dir, key)
    resolved = Component(plugin=node.get("plugin"), params=node.get("params") or {},
                         from_run=node.get("from_run"), checkpoint=node.get("checkpoint"))
    exported = weights_path(run_dir, key)
    if exported.is_file():
        return Component(plugin=resolved.plugin, params=resolved.params), exported
    if resolved.from_run is not None or resolved.checkpoint is not None:
        return locate_weights(key, resolved)
    if resolved.plugin is None:
        raise RunError(f"run {run_dir} does not say which plugin its `{key}` is")
    # A stage that trains this component must have exported it; building it anyway would
    # give the later stage a randomly initialised part, silently (a folder holding only the
    # recipe, or a run that died before its first checkpoint).
    if key in _trained_by_stage(run_dir):
        raise RunError(f"run {run_dir} has no exported {key} weights ({exported}); "
                       "has it finished a checkpoint?")
    return resolved, None


def _trained_by_stage(run_dir: Path) -> tuple[str, ...]:
    stage = str(read_yaml(run_dir / "recipe.yaml").get("stage"))
    return stage_spec(stage).trained if stage in STAGE_NAMES else ()


def load_safetensors_into(module: Any, path: Path, *, strict: bool = True) -> None:
    """Load a safetensors state dict into a module; a corrupt or mismatched file is a clear
    error naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DisdiffError(f"cannot read weights file {path}: {exc}") from None
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise DisdiffError(f"weights file {path} does not fit the model: {exc}") from None


def build_component(kind: str, key: str, component: Component, *, frozen: bool, **runtime: Any) -> Any:
    """Build a component from its plugin, load its weights (if any) and freeze it if asked."""
    component, weights = locate_weights(key, component)
    assert component.plugin is not None
    module = registry.build(kind, component.plugin, component.params, **runtime)
    if weights is not None:
        load_safetensors_into(module, weights)
    if frozen and hasattr(module, "freeze"):
        module.freeze()
    return module


def export_weights(module: Any, run_dir: Path, key: str) -> Path:
    """Write a module's state dict to ``RUN/weights/<key>.safetensors`` atomically."""
    from safetensors.torch import save_file

    from disdiff_core.io import atomic_path

    target = weights_path(run_dir, key)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in module.state_dict().items()}
    with atomic_path(target) as tmp:
        save_file(state, str(tmp))
    return target
