"""Dataset plugin specs (torch-free, zarr-free): parameter models and lazily imported factories.

Readers convert files a user already has (the formats of docs/DATASETS.md); procedural
datasets render their images. Every factory is called as ``factory(params)`` and returns a
:class:`~disdiff_core.interfaces.dataset.DatasetPlugin`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from disdiff_core.plugin import NoParams, Params, PluginSpec

Resample = Literal["lanczos", "bicubic", "bilinear", "box", "nearest"]

_RESAMPLE = "PIL resampling filter of the resize (all but nearest antialias when shrinking)"


class MPI3DParams(Params):
    """Which MPI3D release the file is; recorded in the store and named with every result."""

    variant: Literal["toy", "realistic", "real"] = Field(
        "toy", description="mpi3d_toy / mpi3d_realistic / mpi3d_real"
    )


class Cars3DParams(Params):
    """Cars3D resizing (dlib: 64×64 with PIL ANTIALIAS, i.e. Lanczos)."""

    size: int = Field(64, ge=8, le=128, description="output height and width in pixels")
    resample: Resample = Field("lanczos", description=_RESAMPLE)


class SmallNORBParams(Params):
    """SmallNORB: one camera of each stereo pair, resized (dlib: left camera, 64×64, Lanczos)."""

    size: int = Field(64, ge=8, le=96, description="output height and width in pixels")
    camera: Literal[0, 1] = Field(0, description="which image of the stereo pair (0: left)")
    resample: Resample = Field("lanczos", description=_RESAMPLE)


class CelebAParams(Params):
    """CelebA's reference preprocessing: a 128×128 crop centred at (89, 121) of the 178×218
    aligned images, resized to 64×64 (torchvision Resize: PIL bilinear, antialiased)."""

    crop: int = Field(128, ge=8, le=178, description="side of the square crop in pixels")
    center_x: int = Field(89, ge=0, lt=178, description="crop centre, column (pixels)")
    center_y: int = Field(121, ge=0, lt=218, description="crop centre, row (pixels)")
    size: int = Field(64, ge=8, le=256, description="output height and width in pixels")
    resample: Resample = Field("bilinear", description=_RESAMPLE)


class ImageFolderParams(Params):
    """Any folder of PNG/JPEG files (searched recursively, sorted by relative path)."""

    size: int = Field(64, ge=8, le=1024, description="output height and width in pixels")
    crop: Literal["center", "none"] = Field(
        "center",
        description="center: crop the largest centred square, then resize; none: resize the "
        "whole image (aspect ratio not kept)",
    )
    channels: Literal[1, 3] = Field(3, description="3: RGB, 1: grey")
    resample: Resample = Field("bilinear", description=_RESAMPLE)


#: synth-dsprites' factors in canonical order and their number of values (see its module).
DSPRITES_FACTORS = {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32}


class SynthDSpritesParams(Params):
    """The dSprites grid (shape 3 × scale 6 × orientation 40 × x 32 × y 32), rendered, or a
    coarser grid over the same span (``stride``)."""

    size: int = Field(64, ge=16, le=256, description="image height and width in pixels")
    stride: dict[str, int] = Field(
        default_factory=dict,
        description="keep every k-th value of these factors, from the first (e.g. {orientation: "
        "4, pos_x: 4, pos_y: 4}: 10 rotations and 8 × 8 positions, 11 520 images); factor "
        "indices then count the kept values",
    )

    @field_validator("stride")
    @classmethod
    def _known_factors(cls, stride: dict[str, int]) -> dict[str, int]:
        for name, step in stride.items():
            if name not in DSPRITES_FACTORS:
                raise ValueError(f"unknown factor {name!r}; factors: {', '.join(DSPRITES_FACTORS)}")
            if not 1 <= step < DSPRITES_FACTORS[name]:
                raise ValueError(f"stride of {name} must be from 1 to "
                                 f"{DSPRITES_FACTORS[name] - 1}, got {step}")
        return stride


class SynthShapes3DParams(Params):
    """The Shapes3D grid (10 × 10 × 10 hues, 8 scales, 4 shapes, 15 camera azimuths), rendered
    by ray casting with perspective, Lambertian shading and shadows."""

    size: int = Field(64, ge=8, le=256, description="image height and width in pixels")
    supersample: int = Field(
        4, ge=1, le=8, description="rays per pixel along each axis (antialiasing)"
    )


class ToyShapesParams(Params):
    """A small coloured-shapes grid for tests and CPU demos: shape × hue × scale × x × y on
    black, antialiased. The default grid has 3·4·2·6·6 = 864 images of 32×32."""

    size: int = Field(32, ge=8, le=128, description="image height and width in pixels")
    shapes: list[Literal["square", "circle", "triangle"]] = Field(
        default_factory=lambda: ["square", "circle", "triangle"],
        description="shapes, in factor order",
    )
    num_hues: int = Field(4, ge=2, le=12, description="hues evenly spaced on the colour wheel")
    num_scales: int = Field(2, ge=2, le=4, description="sizes from 0.6 to 1 of the largest")
    num_positions: int = Field(6, ge=2, le=16, description="positions along x and along y")

    @field_validator("shapes")
    @classmethod
    def _distinct_shapes(cls, shapes: list[str]) -> list[str]:
        if len(shapes) < 2 or len(set(shapes)) != len(shapes):
            raise ValueError("name at least two distinct shapes")
        return shapes


def _spec(name: str, description: str, params: type[Params], target: str) -> PluginSpec:
    return PluginSpec("dataset", name, description, params, f"disdiff_plugins.datasets.{target}")


SHAPES3D = _spec(
    "shapes3d",
    "DeepMind 3D Shapes from 3dshapes.h5 (factor indices from the label values) or an .npz "
    "of images in canonical order.",
    NoParams, "shapes3d:Shapes3D",
)
DSPRITES = _spec(
    "dsprites",
    "DeepMind dSprites from its .npz (0/1 images stored as 0/255 grey, constant colour "
    "factor dropped).",
    NoParams, "dsprites:DSprites",
)
MPI3D = _spec(
    "mpi3d",
    "MPI3D toy / realistic / real from its .npz (the older 4×4 toy release detected by length).",
    MPI3DParams, "mpi3d:MPI3D",
)
CARS3D = _spec(
    "cars3d",
    "Cars3D from the folder of car_XXX_mesh.mat files (cars in sorted file-name order), "
    "resized to 64×64.",
    Cars3DParams, "cars3d:Cars3D",
)
SMALLNORB = _spec(
    "smallnorb",
    "SmallNORB from its binary smallnorb-*-{dat,cat,info}.mat matrices (training and test "
    "combined), one camera, resized to 64×64.",
    SmallNORBParams, "smallnorb:SmallNORB",
)
CELEBA = _spec(
    "celeba",
    "CelebA aligned images with their 40 binary attributes, cropped and resized to 64×64.",
    CelebAParams, "celeba:CelebA",
)
IMAGEFOLDER = _spec(
    "imagefolder",
    "Any folder of PNG/JPEG images, cropped and resized; no factors.",
    ImageFolderParams, "imagefolder:ImageFolder",
)
SYNTH_DSPRITES = _spec(
    "synth-dsprites",
    "Procedural dSprites: square/ellipse/heart × 6 scales × 40 rotations × 32×32 positions.",
    SynthDSpritesParams, "synth_dsprites:SynthDSprites",
)
SYNTH_SHAPES3D = _spec(
    "synth-shapes3d",
    "Procedural Shapes3D-like scenes: floor, wall and a cube/cylinder/sphere/capsule, "
    "480000 images at the Shapes3D factor grid.",
    SynthShapes3DParams, "synth_shapes3d:SynthShapes3D",
)
TOY_SHAPES = _spec(
    "toy-shapes",
    "A small coloured-shapes grid (a few hundred to a few thousand 32×32 images) for tests "
    "and CPU demos.",
    ToyShapesParams, "toy_shapes:ToyShapes",
)
