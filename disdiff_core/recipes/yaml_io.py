"""YAML reading and writing for recipes.

PyYAML follows YAML 1.1, whose float pattern needs a dot and a signed exponent, so ``1e-4``
and ``2e5`` load as strings. The loader here resolves every YAML 1.2 float form as a float.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from disdiff_core.errors import RecipeError


class RecipeLoader(yaml.SafeLoader):
    """A safe loader that reads ``1e-4``, ``1E5``, ``.5`` and ``-2.`` as floats, and gives
    only JSON data (mappings, lists, strings, numbers, booleans, null): a recipe is stored as
    YAML and JSON, so a date stays the text it is and binary, sets and ordered maps are errors."""


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
# Replace the 1.1 float resolver for every first character it may start with; drop the
# timestamp one (``2020-01-01`` stays a string).
_REPLACED = ("tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
RecipeLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _not_json(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag} values are not allowed in a recipe (only JSON data)",
        node.start_mark)


for _tag in ("binary", "set", "omap", "pairs", "timestamp"):
    RecipeLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_json)


def _load(text: str) -> Any:
    """``yaml.load`` with every failure of the document reported as a ``YAMLError``.

    PyYAML's safe constructors do not only raise ``YAMLError``: a malformed tagged or implicit
    scalar raises ``ValueError`` (``2020-13-45``, ``!!int x``), ``AttributeError``
    (``!!timestamp 3``), deep nesting ``RecursionError``. The loader runs no code of ours, so
    whatever it raises is a fault of the text.
    """
    try:
        return yaml.load(text, Loader=RecipeLoader)
    except yaml.YAMLError:
        raise
    except Exception as exc:
        raise yaml.YAMLError(f"{type(exc).__name__}: {exc}") from exc


def parse_scalar(text: str) -> Any:
    """Parse one ``--set`` value as a YAML scalar (or flow collection): ``1e-4`` → 0.0001,
    ``true`` → True, ``[1, 2]`` → [1, 2], ``null`` → None, anything else stays a string."""
    try:
        return _load(text)
    except yaml.YAMLError:
        return text


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a recipe file into a mapping; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file {path} does not exist") from None
    except OSError as exc:
        raise RecipeError(f"cannot read recipe file {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path} is not a text (UTF-8) file: byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}") from None
    try:
        data = _load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of keys, not {type(data).__name__}")
    return data


def dump_yaml(data: Any) -> str:
    """Dump a mapping as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
