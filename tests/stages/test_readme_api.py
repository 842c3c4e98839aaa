"""The README's "Python API" lines, run exactly as written on a tiny budget: the shipped tiny
recipes are swapped (``DISDIFF_RECIPES``) for ones that extend them with a few steps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from disdiff_core.recipes.resolve import recipes_dir

README = Path(__file__).resolve().parents[2] / "README.md"
#: A few steps of each tiny stage, small sample grids and a short sampler.
TINY_BUDGET = {
    "backbone": "train: {steps: 4, batch_size: 8, log_every: 2, checkpoint_every: 4}\n"
                "sample: {num_images: 4, sampler: {plugin: ddim, params: {steps: 4}}}\n",
    "disdiff": "train: {steps: 3, batch_size: 8, log_every: 1, checkpoint_every: 3}\n"
               "sample: {sampler: {plugin: ddim, params: {steps: 4}}}\n",
}


def readme_api_lines() -> str:
    """The first Python block after the README's "Python API" heading."""
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "no python block in the README's Python API section"
    return match.group(1)


def test_the_readme_api_lines_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = recipes_dir()
    for stage, budget in TINY_BUDGET.items():
        recipe = tmp_path / "recipes" / "tiny" / f"{stage}.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(f"extends: {shipped / 'tiny' / f'{stage}.yaml'}\n{budget}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DISDIFF_RECIPES", str(tmp_path / "recipes"))
    monkeypatch.chdir(work)
    names: dict[str, object] = {}
    exec(compile(readme_api_lines(), str(README), "exec"), names)  # noqa: S102 - the README's lines
    assert names["codes"].shape[0] == 864  # type: ignore[attr-defined]
    assert (work / "swap.png").is_file() and (work / "runs/tiny-disdiff/weights").is_dir()
    assert names["result"].modes == {"mig": "exact"}  # type: ignore[attr-defined]
