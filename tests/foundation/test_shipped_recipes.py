"""Every shipped recipe validates, and the paper recipes carry the reference values of docs/method.md."""

from __future__ import annotations

import pytest

from disdiff_core.recipes import load_recipe
from disdiff_core.recipes.resolve import shipped_recipes
from disdiff_core.stages.recipe_changes import recipe_differences

PAPER_DATASETS = ("shapes3d", "mpi3d", "cars3d", "celeba", "dsprites")


@pytest.mark.parametrize("name", shipped_recipes())
def test_shipped_recipe_validates(name: str) -> None:
    assert load_recipe(name).recipe.stage in ("first_stage", "backbone", "disdiff")


def test_every_paper_dataset_has_three_stages() -> None:
    names = set(shipped_recipes())
    for dataset in PAPER_DATASETS:
        assert {f"{dataset}/autoencoder", f"{dataset}/backbone", f"{dataset}/disdiff"} <= names


def test_the_cpu_demonstration_at_batch_64_changes_the_batch_and_nothing_else() -> None:
    """shapes3d-cpu-b64 is the study's condition disdiff-lam0.2-b64-x5: shapes3d-cpu's recipes
    with DisDiff's batch doubled. Its first two stages keep their names too, so a pipeline run
    of either folder reuses the other's finished autoencoder and backbone."""
    for stage in ("autoencoder", "backbone"):
        ours, base = (load_recipe(f"{folder}/{stage}").to_dict()
                      for folder in ("shapes3d-cpu-b64", "shapes3d-cpu"))
        assert recipe_differences(base, ours) == {}
        assert ours["name"] == base["name"]
    ours, base = (load_recipe(f"{folder}/disdiff").to_dict()
                  for folder in ("shapes3d-cpu-b64", "shapes3d-cpu"))
    assert recipe_differences(base, ours) == {"train.batch_size": (32, 64)}


@pytest.mark.parametrize("dataset", PAPER_DATASETS)
def test_paper_recipes_carry_reference_values(dataset: str) -> None:
    disdiff = load_recipe(f"{dataset}/disdiff").to_dict()
    assert disdiff["encoder"]["params"]["num_factors"] == 6
    assert disdiff["encoder"]["params"]["factor_dim"] == 32
    train = disdiff["train"]
    assert (train["batch_size"], train["lr"], train["warmup_steps"], train["ema_decay"]) == (
        128, pytest.approx(2.56e-4), 10000, pytest.approx(0.9999))
    losses = {loss["plugin"]: loss["params"] for loss in disdiff["losses"]}
    assert losses["mean-shift"]["loss_type"] == "l1"
    assert losses["disentangle"]["weight"] == pytest.approx(0.01 if dataset == "mpi3d" else 0.05)
    assert losses["disentangle"]["weight_mode"] == "latent"
    assert disdiff["field"]["params"]["orthogonal_factors"] is True

    backbone = load_recipe(f"{dataset}/backbone").to_dict()
    unet = backbone["backbone"]["params"]
    assert (unet["image_size"], unet["base_channels"], unet["channel_mult"], unet["num_res_blocks"],
            unet["attention_resolutions"], unet["num_heads"]) == (16, 64, [1, 2, 4, 4], 2, [16, 8, 4], 8)
    assert backbone["losses"][0]["params"]["loss_type"] == "l1"
    assert backbone["train"]["lr"] == pytest.approx(2.56e-4)

    vq = load_recipe(f"{dataset}/autoencoder").to_dict()["first_stage"]["params"]
    assert (vq["n_embed"], vq["embed_dim"], vq["beta"]) == (2048, 3, 0.25)


def test_wheels_ship_every_recipe_folder() -> None:
    """pyproject's data-files install each recipes/ folder under share/disdiff/recipes, where
    recipes_dir() looks when there is no source tree (a non-editable install)."""
    import tomllib

    from disdiff_core.recipes.resolve import recipes_dir

    config = tomllib.loads((recipes_dir().parent / "pyproject.toml").read_text())
    data_files = config["tool"]["setuptools"]["data-files"]
    folders = sorted(d.name for d in recipes_dir().iterdir() if d.is_dir())
    assert data_files == {f"share/disdiff/recipes/{f}": [f"recipes/{f}/*.yaml"] for f in folders}
