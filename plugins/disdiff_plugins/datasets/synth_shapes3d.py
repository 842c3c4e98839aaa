"""Procedural Shapes3D: the 3D Shapes factor grid, ray-cast, for users without ``3dshapes.h5``.

Factors (canonical order, as Shapes3D): floor_hue 10, wall_hue 10, object_hue 10 (hues 0, 0.1,
…, 0.9), scale 8 (0.75 … 1.25), shape 4 (cube, cylinder, sphere, capsule), orientation 15
(camera azimuth −30° … 30°): 480000 RGB images of 64×64.

The scene: a floor, a room of three walls (back, left, right; the side walls appear as the
camera turns) and one object on the floor at the origin, seen by a perspective pinhole camera
orbiting the object; a directional light with Lambertian shading and the object's shadow on the
floor and walls. Edges are antialiased by averaging s×s rays per pixel.

Speed: the geometry depends only on (scale, shape, orientation), 480 configurations, and the
hues only colour it. Each configuration is ray-cast once into three maps, the light reaching
each pixel from floor, wall and object surfaces (coverage × shading); an image is then
Σ map_c · colour_c, so streaming the 480000 images costs a few multiply-adds per pixel.

Determinism: the maps use float64 +, −, ×, ÷, sqrt and comparisons only (vectors are handled
component by component, no reductions whose order could vary); the camera's sines and cosines
are rounded to 12 decimals; so the same parameters give the same bytes on any machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from disdiff_core.plugin import Params
from disdiff_plugins.datasets.base import (
    BATCH_IMAGES,
    Batch,
    Conversion,
    GridDataset,
    grid_factors,
    take,
)
from disdiff_plugins.datasets.render2d import hsv_to_rgb, rotation_table

FACTOR_NAMES = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
FACTOR_SIZES = [10, 10, 10, 8, 4, 15]
SHAPES = ["cube", "cylinder", "sphere", "capsule"]
HUES = np.linspace(0.0, 1.0, 10, endpoint=False)
SCALES = np.linspace(0.75, 1.25, 8)
AZIMUTHS_DEG = np.linspace(-30.0, 30.0, 15)

# Scene (world units, y up). The camera orbits the origin at CAMERA_DISTANCE, CAMERA_HEIGHT
# above the floor, looking at LOOK_AT; walls at z = BACK_WALL and x = ±SIDE_WALL.
CAMERA_DISTANCE = 4.0
CAMERA_HEIGHT = 1.9
LOOK_AT = (0.0, 0.55, 0.0)
FIELD_OF_VIEW_DEG = 45.0
BACK_WALL = 3.0
SIDE_WALL = 4.5
#: Object size at scale 1: the sphere's radius; other shapes are sized to look comparable.
OBJECT_SIZE = 0.65
#: Direction towards the light (normalised below), ambient and diffuse weights.
LIGHT = (-0.45, 1.0, -0.7)
AMBIENT, DIFFUSE = 0.35, 0.65
SATURATION = 0.9
EPSILON = 1e-6

Vec = tuple[np.ndarray, np.ndarray, np.ndarray]


def _map3(component: Callable[[int], np.ndarray]) -> Vec:
    """The vector whose i-th component is ``component(i)``."""
    return component(0), component(1), component(2)


def _dot(a: Vec, b: Vec) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _normalise(a: Vec) -> Vec:
    norm = np.sqrt(_dot(a, a))
    return a[0] / norm, a[1] / norm, a[2] / norm


def _at(o: Vec, d: Vec, t: np.ndarray) -> Vec:
    return o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]


def _select(mask: np.ndarray, a: Vec, b: Vec) -> Vec:
    """``a`` where ``mask``, else ``b``, component by component."""
    return (np.where(mask, a[0], b[0]), np.where(mask, a[1], b[1]), np.where(mask, a[2], b[2]))


def _closest(*hits: tuple[np.ndarray, Vec]) -> tuple[np.ndarray, Vec]:
    """The nearest of several (t, normal) hits, t = inf for a miss."""
    t, normal = hits[0]
    for t_k, n_k in hits[1:]:
        nearer = t_k < t
        t = np.where(nearer, t_k, t)
        normal = _select(nearer, n_k, normal)
    return t, normal


def _valid(t: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.where(ok & (t > EPSILON), t, np.inf)


def _sphere(o: Vec, d: Vec, centre_y: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, Vec]:
    oc = (o[0], o[1] - centre_y, o[2])
    b = _dot(oc, d)
    disc = b * b - (_dot(oc, oc) - radius * radius)
    t = _valid(-b - np.sqrt(np.maximum(disc, 0.0)), disc >= 0)
    p = _at(oc, d, t)
    return t, (p[0] / radius, p[1] / radius, p[2] / radius)


def _box(o: Vec, d: Vec, half: np.ndarray) -> tuple[np.ndarray, Vec]:
    """Axis-aligned box [-h, h] × [0, 2h] × [-h, h] (slab method)."""
    lo, hi = (-half, 0.0 * half, -half), (half, 2.0 * half, half)
    t_near, t_far = np.full_like(o[0], -np.inf), np.full_like(o[0], np.inf)
    axis = np.zeros(o[0].shape, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(3):
            t1, t2 = (lo[i] - o[i]) / d[i], (hi[i] - o[i]) / d[i]
            enter, leave = np.minimum(t1, t2), np.maximum(t1, t2)
            axis = np.where(enter > t_near, i, axis)
            t_near, t_far = np.maximum(t_near, enter), np.minimum(t_far, leave)
    t = _valid(t_near, t_far >= t_near)
    return t, _map3(lambda i: np.where(axis == i, -np.sign(d[i]), 0.0))


def _cylinder(o: Vec, d: Vec, radius: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, Vec]:
    """Vertical capped cylinder x² + z² ≤ r², 0 ≤ y ≤ height."""
    a = d[0] * d[0] + d[2] * d[2]
    b = o[0] * d[0] + o[2] * d[2]
    c = o[0] * o[0] + o[2] * o[2] - radius * radius
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        y = o[1] + t_side * d[1]
        side = _valid(t_side, (disc >= 0) & (a > 0) & (y >= 0) & (y <= height))
        caps = []
        for level, ny in ((height, 1.0), (0.0 * height, -1.0)):
            t_cap = (level - o[1]) / d[1]
            px, pz = o[0] + t_cap * d[0], o[2] + t_cap * d[2]
            t_cap = _valid(t_cap, px * px + pz * pz <= radius * radius)
            caps.append((t_cap, (0.0 * px, np.full_like(px, ny), 0.0 * px)))
    p = _at(o, d, side)
    return _closest((side, (p[0] / radius, 0.0 * p[1], p[2] / radius)), *caps)


def _capsule(o: Vec, d: Vec, radius: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, Vec]:
    """Vertical capsule: the points within ``radius`` of the segment from (0, r, 0) to
    (0, r + length, 0); a cylinder side and two hemispherical ends."""
    bottom, top = radius, radius + length
    t_body, n_body = _cylinder((o[0], o[1] - bottom, o[2]), d, radius, length)
    body_side = n_body[1] == 0.0  # the caps of that cylinder lie inside the end spheres
    t_body = np.where(body_side, t_body, np.inf)
    ends = [_sphere(o, d, centre, radius) for centre in (bottom, top)]
    return _closest((t_body, n_body), *ends)


def _object(o: Vec, d: Vec, shape: int, scale: np.ndarray) -> tuple[np.ndarray, Vec]:
    size = OBJECT_SIZE * scale
    if SHAPES[shape] == "cube":
        return _box(o, d, 0.8 * size)
    if SHAPES[shape] == "cylinder":
        return _cylinder(o, d, 0.75 * size, 1.6 * size)
    if SHAPES[shape] == "sphere":
        return _sphere(o, d, size, size)
    return _capsule(o, d, 0.55 * size, 1.1 * size)


def _room(o: Vec, d: Vec) -> tuple[np.ndarray, np.ndarray, Vec]:
    """Nearest hit with the floor (class 0) or a wall (class 1): (t, class, normal)."""
    zero = 0.0 * d[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = (_valid(-o[1] / d[1], d[1] < 0), (zero, zero + 1.0, zero))
        back = (_valid((BACK_WALL - o[2]) / d[2], d[2] > 0), (zero, zero, zero - 1.0))
        left = (_valid((-SIDE_WALL - o[0]) / d[0], d[0] < 0), (zero + 1.0, zero, zero))
        right = (_valid((SIDE_WALL - o[0]) / d[0], d[0] > 0), (zero - 1.0, zero, zero))
    t, normal = _closest(floor, back, left, right)
    surface = np.where(t == floor[0], 0, 1)
    return t, surface, normal


def render_geometry(shape: int, scale: float, size: int, supersample: int) -> np.ndarray:
    """Light maps of the 15 camera azimuths of one (shape, scale): float32 (15, 3, size, size),
    class 0 floor, 1 wall, 2 object; a pixel's value for a class is the mean over its rays of
    (ray hits that class) × (ambient + diffuse · max(0, n·l) · unshadowed)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # misses carry inf/nan, masked
        return _render_geometry(shape, scale, size, supersample)


def _render_geometry(shape: int, scale: float, size: int, supersample: int) -> np.ndarray:
    cos, sin = rotation_table(np.deg2rad(AZIMUTHS_DEG))
    n_views, n = len(AZIMUTHS_DEG), size * supersample
    # camera on a circle around the object, azimuth 0 looking along +z
    cam = (CAMERA_DISTANCE * sin, np.full(n_views, CAMERA_HEIGHT), -CAMERA_DISTANCE * cos)
    forward = _normalise(_map3(lambda i: LOOK_AT[i] - cam[i]))
    right = _normalise((-forward[2], 0.0 * forward[0], forward[0]))  # forward × up
    up = (right[1] * forward[2] - right[2] * forward[1], right[2] * forward[0]
          - right[0] * forward[2], right[0] * forward[1] - right[1] * forward[0])
    half_width = np.tan(np.deg2rad(FIELD_OF_VIEW_DEG) / 2.0).round(12)
    screen = ((np.arange(n, dtype=np.float64) + 0.5) / n * 2.0 - 1.0) * half_width
    sx, sy = screen[None, None, :], screen[None, :, None]  # (1, 1, n) columns, (1, n, 1) rows

    def per_view(v: np.ndarray) -> np.ndarray:
        return v[:, None, None]

    d = _normalise(_map3(lambda i: per_view(forward[i]) + sx * per_view(right[i])
                         - sy * per_view(up[i])))
    o = _map3(lambda i: np.broadcast_to(per_view(cam[i]), d[0].shape))
    scale_arr = np.full(d[0].shape, scale)
    t_room, surface, n_room = _room(o, d)
    t_obj, n_obj = _object(o, d, shape, scale_arr)
    on_object = t_obj < t_room
    surface = np.where(on_object, 2, surface)
    t = np.where(on_object, t_obj, t_room)
    normal = _select(on_object, n_obj, n_room)
    light = _normalise(_map3(lambda i: np.asarray(LIGHT[i], dtype=np.float64)))
    lambert = np.maximum(_dot(normal, light), 0.0)
    # shadow rays from room surfaces towards the light, blocked by the object
    hit = _at(o, d, t)
    start = _map3(lambda i: hit[i] + 1e-4 * normal[i])
    towards = _map3(lambda i: np.broadcast_to(light[i], d[0].shape))
    blocked = (_object(start, towards, shape, scale_arr)[0] < np.inf) & ~on_object
    shade = AMBIENT + DIFFUSE * np.where(blocked, 0.0, lambert)
    maps = np.zeros((n_views, 3, size, size), np.float64)
    for c in range(3):
        value = np.where(surface == c, shade, 0.0).reshape(n_views, size, supersample, size,
                                                         supersample)
        for i in range(supersample):  # explicit adds: a fixed summation order
            for j in range(supersample):
                maps[:, c] += value[:, :, i, :, j]
    return (maps / (supersample * supersample)).astype(np.float32)


class SynthShapes3D(GridDataset):
    """Renderer of the Shapes3D grid (see the module docstring)."""

    name = "synth-shapes3d"
    needs_source = False
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._maps: dict[tuple[int, int], np.ndarray] = {}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 3)

    def light_maps(self, scale: int, shape: int) -> np.ndarray:
        """(15, 3, size, size) maps of one (scale index, shape index), rendered once."""
        key = (scale, shape)
        if key not in self._maps:
            self._maps[key] = render_geometry(shape, float(SCALES[scale]), self.params.size,
                                              self.params.supersample)
        return self._maps[key]

    def render(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (B, size, size, 3) images of factor indices (B, 6)."""
        size = self.params.size
        maps = np.empty((len(factors), 3, size, size), np.float32)
        for scale, shape in {(int(a), int(b)) for a, b in factors[:, 3:5]}:
            rows = np.flatnonzero((factors[:, 3] == scale) & (factors[:, 4] == shape))
            maps[rows] = self.light_maps(scale, shape)[factors[rows, 5]]
        colours = hsv_to_rgb(HUES, np.full(10, SATURATION), np.ones(10)).astype(np.float32)
        # channel-first so that every product runs over contiguous pixels
        image = np.empty((len(factors), 3, size, size), np.float32)
        term = np.empty_like(image)
        for c in range(3):  # floor, wall, object: light map × the surface's colour
            np.multiply(maps[:, c, None], colours[factors[:, c]][:, :, None, None],
                        out=term if c else image)
            if c:
                image += term
        image *= np.float32(255.0)
        np.clip(image, 0.0, 255.0, out=image)
        np.rint(image, out=image)
        return image.astype(np.uint8).transpose(0, 2, 3, 1).copy()

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        num = take(limit, int(np.prod(FACTOR_SIZES)))

        def batches() -> Iterator[Batch]:
            for start in range(0, num, BATCH_IMAGES):
                factors = grid_factors(start, min(start + BATCH_IMAGES, num), FACTOR_SIZES)
                yield self.render(factors), {"factors": factors}

        s = self.params.supersample
        return Conversion(num, batches(), f"procedural: ray-cast scene, perspective camera "
                          f"orbiting the object, Lambertian shading with shadows, {s}×{s} rays "
                          "per pixel")
