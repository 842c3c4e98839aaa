"""The CLI stays light: --help, listing plugins and validating recipes never import torch
(plugin specs and parameter models are torch-free); heavy imports happen inside commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "timm", "zarr", "sklearn", "torchvision")

PROBE = """
import sys
from disdiff_cli.app import app
try:
    app({args!r})
except SystemExit:
    pass
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def imported_heavy_modules(args: list[str]) -> list[str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def test_help_imports_nothing_heavy() -> None:
    assert imported_heavy_modules(["--help"]) == []


def test_plugin_listing_and_recipe_schema_import_nothing_heavy() -> None:
    assert imported_heavy_modules(["plugins", "list", "--json"]) == []
    assert imported_heavy_modules(["recipe", "schema"]) == []
