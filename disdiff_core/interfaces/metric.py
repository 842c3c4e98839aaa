"""The metric interface: a built metric plugin turns a representation plus labels into numbers.

Metrics differ in what they need, so every metric names it in ``requires``:

* ``"factors"``: disentanglement_lib-style metrics. They draw their own samples from a
  :class:`~disdiff_core.data.ground_truth.GroundTruth` with a ``numpy.random.RandomState`` and
  read codes through a representation function (observations are canonical row indices).
* ``"attributes"``: metrics over labelled images without a factor grid (CelebA's 40 binary
  attributes, e.g. TAD). They receive every code and every label row.
* ``"images"``: metrics over images themselves (FID): generated versus reference images.

Every call returns ``dict[str, float]`` keyed by the reference implementation's names (for the
dlib metrics exactly dlib's keys), so results stay comparable with published numbers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import numpy as np

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.plugin import Params

Requirement = Literal["factors", "attributes", "images"]

#: Maps a 1-D int64 array of canonical row indices (B,) to codes (B, num_codes). Called with
#: batches of any size (dlib's metrics ask for 16, 64 or 10000 rows at once), so a function
#: that runs a model must batch internally.
RepresentationFunction = Callable[[np.ndarray], np.ndarray]


class Metric(ABC):
    """Base of every built metric: holds its validated parameters.

    Args:
        params: the plugin's validated parameter model; :meth:`settings` records it with
            every result.
    """

    requires: ClassVar[Requirement]

    def __init__(self, params: Params) -> None:
        self.params = params

    @property
    def mode(self) -> str:
        """``"exact"`` when the numbers follow the reference implementation, ``"fast"`` when a
        documented approximation was asked for (a metric offers it through a ``mode`` field)."""
        return str(getattr(self.params, "mode", "exact"))

    def settings(self) -> dict[str, Any]:
        """The parameters the numbers were computed with (recorded next to them)."""
        return self.params.model_dump(mode="json")


class FactorMetric(Metric):
    """A metric over a discrete factor grid (FactorVAE score, DCI, MIG, SAP …)."""

    requires: ClassVar[Requirement] = "factors"

    @abstractmethod
    def __call__(
        self,
        ground_truth: GroundTruth,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        """Score a representation.

        Args:
            ground_truth: factor sizes and the row of every factor combination.
            representation_function: rows (B,) -> codes (B, num_codes).
            random_state: the only source of randomness for sampling (dlib: RandomState(0)).
        """


class AttributeMetric(Metric):
    """A metric over labelled images with no factor grid (TAD on CelebA)."""

    requires: ClassVar[Requirement] = "attributes"

    @abstractmethod
    def __call__(
        self,
        codes: np.ndarray,
        attributes: np.ndarray,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        """Score codes against binary attributes.

        Args:
            codes: (num_images, num_codes) raw codes, one row per image.
            attributes: (num_images, num_attributes) labels; values > 0 mean "present"
                (so CelebA's ±1 and 0/1 both work).
            random_state: used only when the metric subsamples images.
        """


class ImageMetric(Metric):
    """A metric comparing generated images with reference images (FID)."""

    requires: ClassVar[Requirement] = "images"

    @property
    def num_samples(self) -> int:
        """How many generated and how many reference images one score takes (the paper's FID:
        10 000 each); an evaluation of a run draws that many of each per seed. Read from the
        ``num_samples`` parameter, which an image metric's parameters must declare."""
        return int(self.params.num_samples)

    @abstractmethod
    def __call__(
        self,
        generated: Iterable[Any],
        reference: Iterable[Any] | Any,
    ) -> dict[str, float]:
        """Compare two image sets.

        Args:
            generated: batches of images, each either uint8 (B, H, W, 3) as a store holds
                them or float (B, 3, H, W) in [-1, 1] as the samplers return them (numpy
                arrays or torch tensors).
            reference: batches of the same kinds, or precomputed reference statistics as
                the metric documents (to avoid re-encoding the real images every time).
        """
