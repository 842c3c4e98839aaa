"""A third-party plugin installed in the environment is held to the same contract tests as the
built-ins: nothing in tests/contracts names the plugins it checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SPEC = '''
from disdiff_core.plugin import NoParams, PluginSpec

SPEC = PluginSpec(kind="metric", name="{name}", description="third-party test metric",
                  params=NoParams, factory="{package}.impl:build")
'''
IMPL = '''
import numpy as np
from disdiff_core.interfaces.metric import FactorMetric


class MeanCode(FactorMetric):
    def __call__(self, ground_truth, representation_function, random_state):
        mean = float(np.mean(representation_function(np.arange(ground_truth.num_rows))))
        return {{"mean_code": {value}}}


def build(params):
    return MeanCode(params)
'''
CONTRACTS = Path(__file__).with_name("test_contracts.py")


def _install(site: Path, package: str, name: str, value: str) -> None:
    """A package with one metric plugin and the dist-info that registers it, as pip leaves a
    wheel."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    (site / package / "specs.py").write_text(SPEC.format(name=name, package=package))
    (site / package / "impl.py").write_text(IMPL.format(value=value))
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[disdiff.metrics]\n{name} = {package}.specs:SPEC\n")


def test_an_installed_third_party_plugin_is_checked_and_a_broken_one_caught(
        tmp_path: Path) -> None:
    _install(tmp_path, "acme_good", "acme-good", "mean")
    _install(tmp_path, "acme_bad", "acme-bad", '"high"')  # a number must be a number
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", "-rA",
         "-k", "acme", str(CONTRACTS)],
        check=False, capture_output=True, text=True, env=env, cwd=CONTRACTS.parent, timeout=300)
    lines = result.stdout.splitlines()
    passed = {line.split("::")[1] for line in lines if line.startswith("PASSED")}
    failed = {line.split("::")[1].split(" ")[0] for line in lines if line.startswith("FAILED")}
    assert {"test_spec_module_imports_without_torch[acme_good.specs]",
            "test_default_params_validate[metric:acme-good]",
            "test_metric_returns_a_dict_of_numbers[metric:acme-good]"} <= passed, result.stdout
    assert failed == {"test_metric_returns_a_dict_of_numbers[metric:acme-bad]"}, result.stdout
