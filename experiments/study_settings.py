"""The settings of the toy disentanglement study (``toy_disentanglement.py``): the data and
the frozen models (first stage, backbone) every condition trains over, trained once per study,
and what the DisDiff recipe needs changed for their image size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Setting:
    """The data and the frozen models every condition of a study trains over: the store's
    folder under WORK/data and its preparation, the first stage's recipe (None: pixel space,
    the backbone run serves as its own identity first stage) and the backbone's, with their
    ``--set`` overrides, and what the DisDiff recipe needs changed for this image size."""

    store: str
    prepare: tuple[str, ...]
    backbone: str
    backbone_sets: tuple[str, ...]
    backbone_steps: int
    disdiff_sets: tuple[str, ...]
    budget: str
    first_stage: str | None = None
    first_stage_sets: tuple[str, ...] = ()
    first_stage_steps: int = 0
    #: The encoder's number of factors N (one per factor of the data).
    num_factors: int = 5
    #: Where the accuracy probe takes its images: the store's first rows, or rows spread
    #: evenly over it (a large grid in canonical order shares its leading factors for
    #: thousands of rows, so its first rows would show one floor, wall and object colour).
    probe_rows: Literal["first", "spread"] = "first"


#: The toy-shapes grid both toy settings render.
TOY_GRID = "864 images, factors shape 3 × hue 4 × scale 2 × pos_x 6 × pos_y 6"
#: The first stage that works at 32 px (see the latent32 budget) and the latent backbone on it.
FIRST_STAGE_32 = ("first_stage.params.ch_mult=[1,2,2]", "first_stage.params.disc_weight=0",
                  "first_stage.params.pixel_loss=l2")
LATENT_BACKBONE_8 = ("backbone.params.image_size=8", "backbone.params.attention_resolutions=[4]")
#: synth-dsprites at 32 px on every 4th rotation and position: 11 520 images.
DSPRITES_32 = ("data.prepare={plugin: synth-dsprites, params: {size: 32, "
               "stride: {orientation: 4, pos_x: 4, pos_y: 4}}}")
SETTINGS = {
    "pixel16": Setting(
        store="toy-shapes-16", prepare=(), backbone="toy16/backbone", backbone_sets=(),
        backbone_steps=600, disdiff_sets=(),
        budget=f"toy-shapes 16×16 ({TOY_GRID}); pixel-space backbone "
        "`recipes/toy16/backbone.yaml` (base 16 channels)"),
    "latent32": Setting(
        store="toy-shapes-32",
        prepare=("data.prepare={plugin: toy-shapes, params: {size: 32}}",),
        backbone="tiny/backbone", backbone_sets=LATENT_BACKBONE_8,
        backbone_steps=3000, disdiff_sets=("encoder.params.image_size=32",),
        budget=f"toy-shapes 32×32 ({TOY_GRID}); VQ first stage `recipes/tiny/autoencoder.yaml` "
        "with ch_mult [1, 2, 2] (32 px → 8×8×3 latent, 64 codes; pixel loss L2 and no "
        "discriminator: with the recipe's L1 and discriminator it collapsed at 32 px to one "
        "image, or to black); latent backbone "
        "`recipes/tiny/backbone.yaml` (base 32 channels) on it",
        first_stage="tiny/autoencoder", first_stage_sets=FIRST_STAGE_32, first_stage_steps=1000),
    "shapes3d32": Setting(
        store="synth-shapes3d-32",
        prepare=("data.prepare={plugin: synth-shapes3d, params: {size: 32}}",),
        backbone="tiny/backbone", backbone_sets=LATENT_BACKBONE_8, backbone_steps=3000,
        disdiff_sets=("encoder.params.image_size=32",), num_factors=6,
        budget="synth-shapes3d 32×32 (480 000 images, factors floor_hue 10 × wall_hue 10 × "
        "object_hue 10 × scale 8 × shape 4 × orientation 15, the Shapes3D grid); "
        "the first stage and latent backbone of latent32",
        first_stage="tiny/autoencoder", first_stage_sets=FIRST_STAGE_32, first_stage_steps=1000,
        probe_rows="spread"),
    "dsprites32": Setting(
        store="synth-dsprites-32",
        prepare=(DSPRITES_32,),
        backbone="tiny/backbone", backbone_sets=LATENT_BACKBONE_8, backbone_steps=3000,
        disdiff_sets=("encoder.params.image_size=32", "encoder.params.in_channels=1"),
        budget="synth-dsprites 32×32 on a restricted grid (11 520 grey images, factors shape 3 "
        "× scale 6 × orientation 10 × pos_x 8 × pos_y 8: every 4th rotation and position of "
        "dSprites); the first stage (one input channel) and latent backbone of latent32",
        first_stage="tiny/autoencoder",
        first_stage_sets=(*FIRST_STAGE_32, "first_stage.params.in_channels=1"),
        first_stage_steps=1000, probe_rows="spread"),
}
