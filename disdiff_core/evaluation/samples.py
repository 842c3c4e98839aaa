"""Sample metrics of a trained run (FID): images the run draws against images of a dataset store.

DisDiff has no prior over its codes, so the samples of a DisDiff model are what its users draw
with ``disdiff sample --mode generate``: fresh noise y_T sampled down under the codes of real
images. For seed s, ``numpy.random.RandomState(s)`` draws the n reference images of the store
and then, independently, the n images whose codes condition the samples; the noise comes from a
torch generator seeded with s. n is the metric's ``num_samples`` (the paper's FID: 10 000 of
each). Both sets reach the metric as streams of uint8 batches, so n images never sit in memory
at once. The noise is drawn batch by batch, so a seed's samples depend on the batch size too
(the evaluation records it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from disdiff_core.disdiff import DisDiffModel
from disdiff_core.editing import generate
from disdiff_core.evaluation.evaluate import new_record, record_metric
from disdiff_core.interfaces.metric import ImageMetric
from disdiff_core.interfaces.sampler import Sampler
from disdiff_core.loading import model_device

#: What the ``samples`` section of an evaluation document says of how the images were made.
HOW = ("per seed s: n store images drawn with numpy RandomState(s) are the reference; n more, "
       "drawn independently after them, give the codes; each sample starts from fresh noise "
       "(torch generator seeded with s) and is sampled down under one of those codes")


def draw_rows(num_images: int, count: int, random_state: np.random.RandomState) -> np.ndarray:
    """``count`` rows of a store of ``num_images``, sorted (a store reads them chunk by chunk);
    without repeats unless the store holds fewer than ``count`` images."""
    return np.sort(random_state.choice(num_images, count, replace=count > num_images))


def _in_batches(rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), batch_size):
        yield rows[start:start + batch_size]


def sample_sets(
    model: DisDiffModel,
    sampler: Sampler,
    store: Any,
    count: int,
    seed: int,
    *,
    batch_size: int,
) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray]]:
    """Seed ``seed``'s (generated, reference) image streams of ``count`` images each: uint8
    (B, H, W, C) batches, produced lazily as the metric reads them."""
    random_state = np.random.RandomState(seed)
    reference_rows = draw_rows(store.num_images, count, random_state)
    condition_rows = draw_rows(store.num_images, count, random_state)
    generator = torch.Generator(device=model_device(model)).manual_seed(seed)
    generated = (generate(model, sampler, images=store.read_rows(rows), generator=generator,
                          batch_size=batch_size)
                 for rows in _in_batches(condition_rows, batch_size))
    reference = (store.read_rows(rows) for rows in _in_batches(reference_rows, batch_size))
    return generated, reference


def score_samples(
    model: DisDiffModel,
    sampler: Sampler,
    store: Any,
    metrics: Mapping[str, tuple[ImageMetric, str]],
    *,
    seeds: Sequence[int],
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a run's samples with image metrics (name -> (built metric, supplying
    distribution)) once per seed. Returns the per-metric sections of an evaluation document
    (:func:`~disdiff_core.evaluation.evaluate.new_record`), ``codes_used`` ``"samples"``."""
    result = new_record()
    for name, (metric, plugin) in metrics.items():
        def one_seed(seed: int, metric: ImageMetric = metric) -> Mapping[str, float]:
            return metric(*sample_sets(model, sampler, store, metric.num_samples, seed,
                                       batch_size=batch_size))

        record_metric(result, name, metric, plugin, seeds, one_seed, codes_used="samples",
                      progress=progress)
    return result
