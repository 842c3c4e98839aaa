"""What a newcomer meets first: the README's run folder as written, and messages that name the
real cause (a --device typo, a key --set created, a missing `extends:` file, the keys a
pipeline stage differs in, --resume of a folder without a run, a damaged run among others)
and what `runs show` reports of a DisDiff run's last step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.errors import DisdiffError, RecipeError, RunError
from disdiff_core.recipes import load_recipe
from disdiff_core.runs import Run
from disdiff_core.stages.pipeline import decide
from disdiff_core.stages.runner import open_run

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"
TINY = ["backbone.params.base_channels=16", "train.batch_size=4", "train.log_every=1",
        "train.checkpoint_every=1", "sample.num_images=2", "sample.sampler.params.steps=2"]


def test_the_run_folder_holds_what_the_readme_lists(tmp_path: Path) -> None:
    from disdiff_core import api

    text = " ".join(README.read_text(encoding="utf-8").split())
    sentence = re.search(r"Each training stage writes one run directory: (.*?) With `train\.",
                         text)
    assert sentence is not None
    listed = re.findall(r"`([^`]+)`", sentence.group(1))
    assert "weights/" in listed
    run_dir = tmp_path / "run"
    api.train("tiny/backbone", out=run_dir, progress=lambda line: None,
              overrides=[*TINY, "train.steps=1", f"data.store={tmp_path / 'store'}"])
    missing = [name for name in listed if not (run_dir / name.rstrip("/")).exists()]
    assert not missing, f"README lists {missing}, which a run folder does not hold"


def test_runs_show_gives_every_number_of_the_last_step(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "run", stage="disdiff", recipe_yaml="stage: disdiff\n")
    run.log_metrics(2, {"loss": 0.9, "rec": 0.8})
    run.log_metrics(2, {"grad_z/rec": 1e-5})
    run.log_metrics(4, {"loss": 0.7, "rec": 0.6})  # a DisDiff step: the loss terms, then
    run.log_metrics(4, {"grad_z/rec": 2e-5})       # the gradient shares, in two records
    shown = runner.invoke(app, ["runs", "show", str(run.path), "--json"])
    assert shown.exit_code == 0, shown.output
    latest = json.loads(shown.stdout)["latest_metrics"]
    assert latest["step"] == 4 and latest["loss"] == 0.7 and latest["grad_z/rec"] == 2e-5


@pytest.mark.parametrize(("device", "message"), [
    ("foo", "is not a torch device"), ("cuda:99", "CUDA device"),
])
def test_a_bad_device_is_the_users_error_not_a_bug(tmp_path: Path, device: str,
                                                   message: str) -> None:
    result = runner.invoke(app, ["encode", str(tmp_path), "--images", str(tmp_path),
                                 "--out", str(tmp_path / "codes.npy"), "--device", device])
    assert result.exit_code == 1 and message in result.stderr
    assert "bug" not in result.stderr and not list(tmp_path.glob("disdiff-crash-*"))
    from disdiff_core.loading import resolve_device

    with pytest.raises(DisdiffError, match=message):
        resolve_device(device)


def test_a_key_that_set_created_is_blamed_on_set_with_the_nearest_key() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("tiny/backbone", ["nope.x=1"])
    assert "--set: nope: unknown key" in str(info.value)
    assert "backbone.yaml" not in str(info.value)
    with pytest.raises(RecipeError, match=r"train\.stpes: unknown key; did you mean 'steps'"):
        load_recipe("tiny/backbone", ["train.stpes=3"])
    with pytest.raises(RecipeError, match="did you mean 'base_channels'"):
        load_recipe("tiny/backbone", ["backbone.params.base_chanels=3"])


def test_a_missing_extends_file_names_the_recipe_that_extends_it(tmp_path: Path) -> None:
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("extends: tiny/disdif\n")  # neither a file nor a shipped name
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    message = str(info.value)
    assert message.startswith(f"{recipe.resolve()}: extends: 'tiny/disdif': no recipe file")
    assert "Did you mean 'tiny/disdiff'" in message
    assert "Shipped recipes: " in message and "quickstart/disdiff" in message


def test_a_changed_pipeline_stage_names_its_keys_and_no_absent_option(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "tiny-backbone"
    stored = load_recipe("tiny/backbone", ["train.steps=4"])
    run = Run.create(out, stage="backbone", recipe_yaml=stored.to_yaml(), name=stored.name)
    run.update(status="finished", step=4)
    with pytest.raises(RunError) as info:
        decide(load_recipe("tiny/backbone", ["train.steps=5"]), out)
    assert "train.steps: 4 → 5" in str(info.value)
    assert "(--out)" not in str(info.value)  # `disdiff pipeline` has no --out


def test_resume_of_a_folder_without_a_run_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    open_run(load_recipe("tiny/backbone"), tmp_path / "new", resume=True, echo=lines.append)
    assert any("no run in" in line for line in lines), lines


def test_runs_list_shows_a_damaged_run_beside_the_others(tmp_path: Path) -> None:
    Run.create(tmp_path / "good", stage="backbone", recipe_yaml="stage: backbone\n")
    damaged = Run.create(tmp_path / "damaged", stage="backbone", recipe_yaml="stage: backbone\n")
    (damaged.path / "run.json").write_text("{")
    listed = runner.invoke(app, ["runs", "list", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    status = {Path(row["path"]).name: row["status"] for row in json.loads(listed.stdout)}
    assert status == {"damaged": "unreadable", "good": "created"}


def test_a_later_stage_before_its_earlier_one_leaves_no_run_behind(tmp_path: Path) -> None:
    from disdiff_core import api

    out = tmp_path / "runs" / "tiny-disdiff"
    with pytest.raises(RunError, match=r"from_run: .*tiny-backbone is not a run directory"):
        api.train("tiny/disdiff", out=out, progress=lambda line: None,
                  overrides=[f"backbone.from_run={tmp_path / 'runs/tiny-backbone'}",
                             f"first_stage.from_run={tmp_path / 'runs/tiny-backbone'}",
                             f"data.store={tmp_path / 'store'}"])
    assert not out.exists()  # else the next `disdiff train` after the backbone is refused


def test_codes_written_to_npz_are_an_npz_file_eval_codes_reads(tmp_path: Path) -> None:
    import numpy as np

    from disdiff_core.app.encoding import write_codes
    from disdiff_core.evaluation.codes import load_codes

    codes = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_codes(tmp_path / "codes.npz", codes, {"run": "r"})
    assert (tmp_path / "codes.npz").is_file()  # not a zarr folder under an .npz name
    np.testing.assert_array_equal(load_codes(tmp_path / "codes.npz"), codes)


def test_set_reaches_into_a_section_the_recipe_leaves_to_its_defaults(tmp_path: Path) -> None:
    recipe = tmp_path / "bare.yaml"  # no sample: and no eval: section
    recipe.write_text("stage: backbone\ndata: {store: s.zarr}\nbackbone: {plugin: unet}\n"
                      "train: {steps: 1}\n")
    resolved = load_recipe(str(recipe), ["sample.sampler.params.steps=7",
                                         "eval.metrics.1.params.mode=fast"]).recipe
    assert resolved.sample.sampler.plugin == "ddim" and resolved.sample.sampler.params["steps"] == 7
    assert [(m.plugin, m.params.get("mode")) for m in resolved.eval.metrics] == [
        ("factorvae", None), ("dci", "fast"), ("mig", None)]
    # an optional component has no default to fill: setting into it still asks for a plugin
    with pytest.raises(RecipeError, match="first_stage"):
        load_recipe(str(recipe), ["first_stage.params.x=1"])


def test_a_reader_that_leaves_early_gets_no_error_message() -> None:
    import typer

    from disdiff_cli.app import DisdiffGroup

    piped = typer.Typer(cls=DisdiffGroup)

    @piped.command()
    def listing() -> None:  # what `disdiff … | head` meets once head has exited
        raise BrokenPipeError(32, "Broken pipe")

    @piped.command()
    def other() -> None:
        """A second command, so `listing` stays a sub-command."""

    result = runner.invoke(piped, ["listing"])
    assert result.exit_code == 1 and result.output == ""
