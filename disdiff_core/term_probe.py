"""Does the disentangling term's ranking work? Top-1 accuracy of its two logits, measured on
many examples at chosen timesteps, after training.

The training log's ``acc_*`` numbers are batch means over t ~ U{0..T−1} (16 examples a step at
the quickstart's size), so they are noisy and mix every timestep. This probe draws the same
quantities the loss computes (:meth:`DisDiffModel.training_losses` with its ``trace``) on a whole
set of images, once per timestep slice, with the model in eval mode (Ē = E, nothing updated).
Chance is 1/N; a term that learns lifts the accuracy above it, first where it is trained hardest
(t near T under the reference's weight w).
"""

from __future__ import annotations

import torch
from torch import Tensor

from disdiff_core.disdiff import DisDiffModel

#: The two logits of the disentangling term, as named in the step's trace.
LOGITS = ("variant", "invariant")


def disentangle_accuracy(model: DisDiffModel, images: Tensor, *, slices: int = 5,
                         batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Top-1 accuracy (argmax over the N codes = the sampled factor c) of both logits.

    Args:
        model: a DisDiff model with a ``disentangle`` loss term (its λ may be 0).
        images: (M, 3, H, W) pixel images in [-1, 1]; each is used once per timestep slice.
        slices: timestep slices 0..T−1 is cut into; each image gets a t drawn uniformly
            inside each slice, and a factor c drawn uniformly.
        batch_size: images per forward pass.
        seed: draws of t, c and the noise.

    Returns:
        ``acc_<logit>`` over all slices and ``acc_<logit>_t<k>`` per slice (k = 0: the
        smallest timesteps).
    """
    generator = torch.Generator(device=images.device).manual_seed(seed)
    num_timesteps, n = model.schedule.num_timesteps, model.num_factors
    correct = torch.zeros(len(LOGITS), slices)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for k in range(slices):
                low, high = k * num_timesteps // slices, (k + 1) * num_timesteps // slices
                for x0 in images.split(batch_size):
                    t = torch.randint(low, high, (x0.shape[0],), generator=generator,
                                      device=x0.device)
                    factor = torch.randint(0, n, (x0.shape[0],), generator=generator,
                                           device=x0.device)
                    trace: dict[str, Tensor] = {}
                    # step 0: a λ warm-up needs a step; λ scales the loss, not the logits
                    model.training_losses(x0, t=t, factor=factor, generator=generator,
                                          step=0, trace=trace)
                    for i, name in enumerate(LOGITS):
                        if f"dis_logits_{name}" not in trace:
                            raise ValueError("the model has no disentangle loss term to probe")
                        hits = trace[f"dis_logits_{name}"].argmax(dim=-1) == factor
                        correct[i, k] += hits.sum().item()
    finally:
        model.train(was_training)
    accuracy = correct / images.shape[0]
    result = {}
    for i, name in enumerate(LOGITS):
        result[f"acc_{name}"] = accuracy[i].mean().item()
        result.update({f"acc_{name}_t{k}": accuracy[i, k].item() for k in range(slices)})
    return result
