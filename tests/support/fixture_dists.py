"""Test fixture: fake third-party distributions, "installed" by writing a package and its
``.dist-info`` (METADATA + entry_points.txt) into a folder put on PYTHONPATH, which is exactly
what importlib.metadata reads for an installed wheel. These plugins exist only for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SPEC_MODULE = '''
from pydantic import Field
from disdiff_core.plugin import Params, PluginSpec


class EchoParams(Params):
    """Parameters of the test-fixture metric."""

    value: float = Field(1.0, ge=0, description="number the fixture returns")


SPEC = PluginSpec(
    kind="metric",
    name="{name}",
    description="test fixture: returns its parameter",
    params=EchoParams,
    factory="{package}.impl:build",
)
'''

IMPL_MODULE = '''
def build(params):
    return lambda *args, **kwargs: {{"value": params.value}}
'''


def install_fixture(
    site: Path,
    dist: str,
    package: str,
    plugin_name: str,
    *,
    group: str = "disdiff.metrics",
    version: str = "1.2.3",
    broken: bool = False,
) -> None:
    """Write a package with one metric plugin and its dist-info into ``site``."""
    pkg = site / package
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    spec = SPEC_MODULE.format(name=plugin_name, package=package)
    if broken:
        spec = "import a_module_that_is_not_installed_anywhere\n" + spec
    (pkg / "specs.py").write_text(spec)
    (pkg / "impl.py").write_text(IMPL_MODULE.format())
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{plugin_name} = {package}.specs:SPEC\n")


def run_cli(args: list[str], site: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``disdiff`` command in a new process (optionally with ``site`` on the path)."""
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "disdiff_cli", *args],
        check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )
