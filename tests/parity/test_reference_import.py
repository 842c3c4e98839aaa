"""`disdiff import reference`: the reference code's checkpoints (a whole DisDiff model, a
backbone alone, an autoencoder alone) become runs that the other commands work on, and whatever
the importer cannot take is refused with a message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.api import load_disdiff
from disdiff_core.stages.components import weights_path

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reference_tiny"
CONFIG = yaml.safe_load((FIXTURE / "config.yaml").read_text())
SHIFT_KEYS = ("shift_", "repre_embed", "part_latents", "part_emb")


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _state() -> dict[str, torch.Tensor]:
    return torch.load(FIXTURE / "model.ckpt", weights_only=True)["state_dict"]


def _write(tmp: Path, name: str, state: dict, config: dict) -> tuple[Path, Path]:
    ckpt, cfg = tmp / f"{name}.ckpt", tmp / f"{name}.yaml"
    torch.save({"state_dict": state, "global_step": 7, "epoch": 0}, ckpt)
    cfg.write_text(yaml.safe_dump(config))
    return ckpt, cfg


def _backbone_only(tmp: Path, extra: dict | None = None) -> tuple[Path, Path]:
    """The fixture as the latent-diffusion code would save an unconditional backbone."""
    config = json.loads(json.dumps(CONFIG))
    params = config["model"]["params"]
    for key in ("dis_loss_flag", "dis_loss_type", "dis_weight", "cond_stage_trainable"):
        params.pop(key)
    params["cond_stage_config"] = "__is_unconditional__"
    unet = params["unet_config"]
    unet["target"] = "ldm.modules.diffusionmodules.openaimodel.UNetModel"
    for key in ("repre_emb_channels", "latent_unit", "orth_emb", "seprate_decoder"):
        unet["params"].pop(key)
    state = {k: v for k, v in _state().items() if not k.startswith("cond_stage_model.")
             and not k.startswith(tuple("model.diffusion_model." + p for p in SHIFT_KEYS))}
    return _write(tmp, "backbone", {**state, **(extra or {})}, config)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("import") / "imported"
    code, output = _cli("import", "reference", FIXTURE / "model.ckpt",
                        "--config", FIXTURE / "config.yaml", "--out", out)
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's four 128×128 input images as PNG files."""
    folder = tmp_path_factory.mktemp("pngs")
    x0 = load_file(FIXTURE / "inputs.safetensors")["x0"]
    for i, image in enumerate(x0):
        pixels = ((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_import_writes_finished_runs_that_list_and_show(imported: Path) -> None:
    code, output = _cli("runs", "list", imported, "--json")
    assert code == 0, output
    runs = {row["stage"]: row for row in json.loads(output)}
    assert set(runs) == {"first_stage", "backbone", "disdiff"}
    assert {row["status"] for row in runs.values()} == {"finished"}
    code, output = _cli("runs", "show", imported / "disdiff")
    assert code == 0 and "imported" in output
    for run, keys in (("first_stage", ["first_stage"]), ("backbone", ["backbone", "first_stage"]),
                      ("disdiff", ["encoder", "field"])):
        assert all(weights_path(imported / run, key).is_file() for key in keys)
    scale = load_file(weights_path(imported / "backbone", "first_stage"))["scale_factor"]
    assert scale.item() == pytest.approx(3.7710536)


def test_encode_and_swap_on_the_imported_run(imported: Path, image_folder: Path,
                                             tmp_path: Path) -> None:
    codes_file = tmp_path / "codes.npy"
    code, output = _cli("encode", imported / "disdiff", "--images", image_folder,
                        "--out", codes_file)
    assert code == 0, output
    codes = np.load(codes_file)
    assert codes.shape == (4, 3, 4)  # N = 3 factors of D = 4
    model = load_disdiff(imported / "disdiff", device="cpu")
    images = np.stack([np.asarray(Image.open(image_folder / f"{i}.png")) for i in range(4)])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(codes, model.encode(x).numpy(), rtol=1e-4, atol=1e-5)

    store = tmp_path / "store.zarr"
    assert _cli("data", "prepare", "imagefolder", "--source", image_folder, "--out", store,
                "--set", "size=128")[0] == 0
    png = tmp_path / "swap.png"
    code, output = _cli("sample", imported / "disdiff", "--mode", "swap", "--data", store,
                        "--out", png, "--steps", "2", "--num", "1")
    assert code == 0, output
    with Image.open(png) as figure:
        assert figure.size[0] > 256 and figure.size[1] > 256


def test_further_training_starts_from_the_imported_weights(imported: Path, image_folder: Path,
                                                           tmp_path: Path) -> None:
    store = tmp_path / "store.zarr"
    assert _cli("data", "prepare", "imagefolder", "--source", image_folder, "--out", store,
                "--set", "size=128")[0] == 0
    run = tmp_path / "finetune"
    code, output = _cli(
        "train", imported / "disdiff" / "recipe.yaml", "--out", run,
        "--set", f"data.store={store}", "--set", f"encoder.from_run={imported / 'disdiff'}",
        "--set", f"field.from_run={imported / 'disdiff'}", "--set", "train.steps=1",
        "--set", "train.batch_size=2", "--set", "train.warmup_steps=0",
        "--set", "train.checkpoint_every=null", "--set", "train.log_every=1")
    assert code == 0, output
    before = load_file(weights_path(imported / "disdiff", "encoder"))
    after = load_file(weights_path(run, "encoder"))
    assert before.keys() == after.keys()
    moved = [k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])]
    # one step from the imported weights moves them a little, nowhere near a fresh init
    assert moved and all((before[k] - after[k]).abs().max() < 0.05 for k in moved)


def test_backbone_and_autoencoder_checkpoints(imported: Path, tmp_path: Path) -> None:
    ckpt, cfg = _backbone_only(tmp_path)
    code, output = _cli("import", "reference", ckpt, "--config", cfg, "--out", tmp_path / "bb")
    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "bb").iterdir()) == ["backbone", "first_stage"]
    ours = load_file(weights_path(tmp_path / "bb" / "backbone", "backbone"))
    full = load_file(weights_path(imported / "backbone", "backbone"))
    assert all(torch.equal(ours[k], full[k]) for k in full)

    state = {k[len("first_stage_model."):]: v for k, v in _state().items()
             if k.startswith("first_stage_model.")}
    first = CONFIG["model"]["params"]["first_stage_config"]
    ckpt, cfg = _write(tmp_path, "vq", state, {"model": {"target": first["target"],
                                                         "params": first["params"]}})
    code, output = _cli("import", "reference", ckpt, "--config", cfg, "--out", tmp_path / "ae")
    assert code == 0, output
    assert [p.name for p in (tmp_path / "ae").iterdir()] == ["first_stage"]
    ae = load_file(weights_path(tmp_path / "ae" / "first_stage", "first_stage"))
    assert ae["scale_factor"].item() == 1.0  # an autoencoder alone has no measured scale yet
    assert torch.equal(ae["decoder.conv_out.weight"], state["decoder.conv_out.weight"])


def test_ema_weights_are_used_unless_told_otherwise(tmp_path: Path) -> None:
    state = _state()
    key = "model.diffusion_model.out.2.weight"
    ema = {"model_ema.diffusion_model" + k[len("model.diffusion_model"):].replace(".", ""): v + 1
           for k, v in state.items() if k.startswith("model.diffusion_model.")
           and not k.endswith("scale_factor")}
    ckpt, cfg = _backbone_only(tmp_path, ema)
    for option, offset in ((), 1), (("--option", "use_ema=false"), 0):
        out = tmp_path / f"ema{offset}"
        code, output = _cli("import", "reference", ckpt, "--config", cfg, "--out", out, *option)
        assert code == 0, output
        weights = load_file(weights_path(out / "backbone", "backbone"))
        assert torch.equal(weights["decoder.out.2.weight"], state[key] + offset)


@pytest.mark.parametrize("edit, message", [
    (lambda c, s: c["model"]["params"].update(mystery_option=3), "mystery_option"),
    (lambda c, s: c["model"]["params"]["unet_config"]["params"].update(model_channels=64),
     "does not fit"),
    (lambda c, s: c["model"]["params"].update(parameterization="x0"), "parameterization"),
    (lambda c, s: s.pop("cond_stage_model.encoder.16.weight"), "cond_stage_model.encoder.16"),
    (lambda c, s: s.update(unknown_tensor=torch.zeros(2)), "unknown_tensor"),
])
def test_what_cannot_be_imported_is_named(tmp_path: Path, edit, message: str) -> None:
    config, state = json.loads(json.dumps(CONFIG)), dict(_state())
    edit(config, state)
    ckpt, cfg = _write(tmp_path, "edited", state, config)
    code, output = _cli("import", "reference", ckpt, "--config", cfg, "--out", tmp_path / "x")
    assert code == 1 and message in output.replace("\n", "")
    assert not (tmp_path / "x" / "disdiff").exists()


def test_unsafe_or_unreadable_checkpoints_are_refused(tmp_path: Path) -> None:
    import argparse

    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": _state(), "hyper_parameters": argparse.Namespace(lr=1)}, unsafe)
    code, output = _cli("import", "reference", unsafe, "--config", FIXTURE / "config.yaml",
                        "--out", tmp_path / "a")
    assert code == 1 and "argparse.Namespace" in output and "refused" in output
    code, output = _cli("import", "reference", FIXTURE / "config.yaml", "--config",
                        FIXTURE / "config.yaml", "--out", tmp_path / "b")
    assert code == 1 and "not a torch checkpoint" in output
    code, output = _cli("import", "reference", FIXTURE / "model.ckpt", "--out", tmp_path / "c")
    assert code == 1 and "--config" in output
    code, output = _cli("import", "nosuch", FIXTURE / "model.ckpt", "--out", tmp_path / "d")
    assert code == 1 and "reference" in output
