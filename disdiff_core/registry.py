"""The plugin registry: every plugin kind is an entry-point group, read through stevedore.

Built-in plugins and third-party ones register the same way (an entry point in a
``disdiff.<kind>`` group pointing at a :class:`~disdiff_core.plugin.PluginSpec`), so the
toolkit never lists its own plugins by hand.

Two details matter to users:

* stevedore keeps an on-disk cache of entry points keyed on ``sys.path`` and coarse file time
  stamps, so a plugin installed a moment ago can be missing from a fresh process. The registry
  therefore reads the entry points of each group afresh from ``importlib.metadata`` (which also
  tells which distribution supplied each one) and lets stevedore load them.
* a plugin that fails to import is kept as an entry with its error, so one broken package
  cannot hide the others; asking for it by name reports the error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from stevedore import ExtensionManager

from disdiff_core.errors import PluginError
from disdiff_core.plugin import KINDS, PluginSpec
from disdiff_core.validation import closest_hint


@dataclass(frozen=True)
class PluginEntry:
    """One registered entry point, loaded or not."""

    kind: str
    name: str
    target: str
    distribution: str
    version: str
    spec: PluginSpec | None = None
    error: str | None = None

    @property
    def description(self) -> str:
        return self.spec.description if self.spec else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
            "target": self.target,
            "error": self.error,
        }


class _FreshExtensionManager(ExtensionManager):
    """stevedore's manager, fed with entry points read now rather than from its disk cache."""

    def __init__(self, namespace: str, entry_points: list[metadata.EntryPoint], **kw: Any):
        self._fresh_entry_points = entry_points
        super().__init__(namespace, **kw)

    def list_entry_points(self) -> list[metadata.EntryPoint]:
        return self._fresh_entry_points


def _distribution_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"] or "unknown", dist.version or "unknown"


def _unique_entry_points(group: str) -> list[metadata.EntryPoint]:
    """Entry points of a group, each (name, target, distribution) once (an editable install
    can expose the same distribution twice on ``sys.path``)."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for ep in metadata.entry_points(group=group):
        key = (ep.name, ep.value, _distribution_of(ep)[0])
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return unique


def _load_group(kind: str) -> list[PluginEntry]:
    group = KINDS[kind]
    eps = _unique_entry_points(group)
    failures: dict[tuple[str, str], str] = {}

    def on_failure(_manager: Any, ep: metadata.EntryPoint, err: Exception) -> None:
        failures[(ep.name, ep.value)] = f"{type(err).__name__}: {err}"

    manager = _FreshExtensionManager(group, eps, on_load_failure_callback=on_failure)
    loaded = {(ext.name, ext.entry_point.value): ext.plugin for ext in manager.extensions}
    entries = []
    for ep in eps:
        dist, version = _distribution_of(ep)
        key = (ep.name, ep.value)
        spec, error = loaded.get(key), failures.get(key)
        if error is None and not isinstance(spec, PluginSpec):
            spec, error = None, f"entry point {ep.value} is not a PluginSpec"
        elif spec is not None and (spec.kind != kind or spec.name != ep.name):
            error = (
                f"entry point {ep.name!r} in group {group} points at the spec of "
                f"{spec.kind} {spec.name!r}"
            )
            spec = None
        entries.append(PluginEntry(kind, ep.name, ep.value, dist, version, spec, error))
    return entries


@cache
def _entries(kind: str) -> tuple[PluginEntry, ...]:
    return tuple(sorted(_load_group(kind), key=lambda e: (e.name, e.distribution)))


def refresh() -> None:
    """Forget what was loaded (for tests that install plugins during a process)."""
    _entries.cache_clear()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")


def list_plugins(kind: str | None = None) -> list[PluginEntry]:
    """Every registered plugin of one kind (or of all kinds), failed ones included."""
    kinds: Iterable[str] = KINDS if kind is None else [kind]
    if kind is not None:
        _check_kind(kind)
    return [entry for k in kinds for entry in _entries(k)]


def get_plugin(kind: str, name: str) -> PluginSpec:
    """The spec of plugin ``name`` of ``kind``.

    Raises PluginError when the name is unknown (listing the names that exist and the closest
    ones), when two distributions register it, or when it failed to import.
    """
    _check_kind(kind)
    matches = [e for e in _entries(kind) if e.name == name]
    if not matches:
        names = sorted({e.name for e in _entries(kind)})
        available = ", ".join(names) or "none"
        raise PluginError(f"no {kind} plugin named {name!r}.{closest_hint(name, names)} "
                          f"Available: {available}")
    if len(matches) > 1:
        who = " and ".join(f"{e.distribution} {e.version} ({e.target})" for e in matches)
        raise PluginError(f"{kind} plugin {name!r} is registered twice: by {who}")
    entry = matches[0]
    if entry.spec is None:
        raise PluginError(
            f"{kind} plugin {name!r} from {entry.distribution} {entry.version} failed to load: "
            f"{entry.error}"
        )
    return entry.spec


def entry_for(kind: str, name: str) -> PluginEntry:
    """The loaded entry (spec plus supplying distribution) of a plugin; see get_plugin."""
    spec = get_plugin(kind, name)
    return next(e for e in _entries(kind) if e.spec is spec)


def find_by_name(name: str) -> list[PluginEntry]:
    """Entries of any kind called ``name`` (a name may exist in several kinds)."""
    return [e for e in list_plugins() if e.name == name]


def build(kind: str, name: str, params: Any = None, **runtime: Any) -> Any:
    """Build plugin ``name`` of ``kind`` from raw or validated parameters."""
    return get_plugin(kind, name).build(params, **runtime)
