"""Can the disentangling term learn at all on this backbone? Train a finished DisDiff run's field
on the term alone, on ONE fixed batch, and watch its top-1 accuracy.

    python experiments/term_overfit.py RUN --data STORE [--images 32] [--held-images 32]
        [--steps 150] [--lr 1e-3] [--t-low 0] [--t-high T] [--fresh]
        [--train-encoder [--encoder-lr LR]] [--with-rec] [--detached-code]
        [--frozen-encoder-decay D] [--threads 1]

Everything the study's runs mix is held still here: the encoder is frozen (eval mode, so Ē = E
and the codes never move), the images, t, ε and the sampled factors c are drawn once, and the
loss is the term's two cross-entropies with every example weighted 1 (``weight_mode:
uniform``, λ = 1, no reconstruction term). Only the field learns. If the accuracy on the fixed
batch rises above chance (1/N), the gradient path from the cross-entropies into the field works
and the ranking is learnable from this backbone's ŷ0 predictions; the same draws on OTHER images
(printed alongside) say whether what was learnt carries over. A run's study figures where the
term stays at chance are then a matter of budget and weighting, not of plumbing.

``--fresh`` draws a new batch (images, t, ε, c) at every step instead, still with the encoder
frozen and the term alone: does the field learn a ranking that holds across images, when
nothing else moves? Accuracy is then printed on the training batch of the step and on a fixed
batch of other images.

``--train-encoder`` lets the encoder learn too, through G_c on its live code z_c (the
reference's path; Ē follows E at every step, as in training): does the ranking still form when
the codes it ranks move under it? ``--with-rec`` adds the mean-shift reconstruction term (on the
same draws), which the field must also serve in a real run; with ``--train-encoder
--detached-code`` the encoder learns from the reconstruction only, so the codes (and Ē) move
as in a real run but the term never pushes them. ``--frozen-encoder-decay D`` makes Ē a moving
average of E (the loss option of that name) instead of a copy: the ruler then moves slowly
while the codes keep the encoder's pace.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from disdiff_core.api import load_disdiff
from disdiff_core.data.store import open_store
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.loading import to_model_input
from disdiff_core.term_probe import LOGITS
from disdiff_plugins.losses.disentangle import DisentangleLoss
from disdiff_plugins.losses.mean_shift import MeanShiftLoss
from disdiff_plugins.losses.specs import DisentangleParams, MeanShiftParams


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished DisDiff run")
    parser.add_argument("--data", type=Path, required=True, help="the run's dataset store")
    parser.add_argument("--images", type=int, default=32, help="images in the fixed batch")
    parser.add_argument("--held-images", type=int, default=32,
                        help="other images the accuracy is also measured on")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--t-low", type=int, default=0)
    parser.add_argument("--t-high", type=int, default=None, help="default: T")
    parser.add_argument("--fresh", action="store_true", help="a new batch at every step")
    parser.add_argument("--train-encoder", action="store_true",
                        help="the encoder learns too (through G_c on the live z_c)")
    parser.add_argument("--encoder-lr", type=float, default=None,
                        help="the encoder's learning rate with --train-encoder (default: --lr)")
    parser.add_argument("--with-rec", action="store_true",
                        help="the mean-shift reconstruction term trains alongside")
    parser.add_argument("--detached-code", action="store_true",
                        help="G_c on a detached z_c: the term does not reach the encoder")
    parser.add_argument("--frozen-encoder-decay", type=float, default=0.0,
                        help="Ē a moving average of E with this decay per step (0: a copy)")
    parser.add_argument("--every", type=int, default=15, help="print every this many steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def pixels(store, rows: np.ndarray) -> Tensor:
    return to_model_input(store.read_rows(rows), torch.device("cpu"))


def accuracies(model: DisDiffModel, x0: Tensor, draws: dict[str, Tensor],
               generator_seed: int, step: int) -> tuple[Tensor, dict[str, float]]:
    """The term's loss on one batch with fixed draws, and the top-1 accuracy of both logits."""
    trace: dict[str, Tensor] = {}
    generator = torch.Generator().manual_seed(generator_seed)
    loss = model.training_losses(x0, t=draws["t"], noise=draws["noise"], factor=draws["factor"],
                                 generator=generator, step=step, trace=trace)["loss"]
    return loss, {name: (trace[f"dis_logits_{name}"].argmax(-1) == draws["factor"])
                  .float().mean().item() for name in LOGITS}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    trained = load_disdiff(args.run, "cpu")
    term = DisentangleLoss(DisentangleParams(
        weight=1.0, weight_mode="uniform", frozen_encoder_decay=args.frozen_encoder_decay,
        code_gradient="detached" if args.detached_code else "live"))
    model = DisDiffModel(trained.backbone, trained.first_stage, trained.encoder, trained.field,
                         [MeanShiftLoss(MeanShiftParams()), term] if args.with_rec else [term])
    model.eval()
    model.encoder.requires_grad_(args.train_encoder)
    model.field.requires_grad_(True).train()
    store = open_store(args.data)
    rng = np.random.RandomState(args.seed)
    rows = rng.permutation(store.num_images)
    held_rows, training_rows = np.sort(rows[: args.held_images]), rows[args.held_images:]
    other = pixels(store, held_rows)
    fixed = pixels(store, np.sort(training_rows[: args.images]))
    gen = torch.Generator().manual_seed(args.seed)
    high = args.t_high or model.schedule.num_timesteps

    def draw(images: int) -> dict[str, Tensor]:
        return {"t": torch.randint(args.t_low, high, (images,), generator=gen),
                "noise": torch.randn(images, *model.backbone.sample_shape, generator=gen),
                "factor": torch.randint(0, model.num_factors, (images,), generator=gen)}

    held_draws = draw(args.held_images)  # the first batch's draws too, when the sizes agree
    draws = held_draws if args.images == args.held_images else draw(args.images)
    groups = [{"params": list(model.field.parameters())}]
    if args.train_encoder:
        groups.append({"params": list(model.encoder.parameters()),
                       "lr": args.encoder_lr or args.lr})
    optimizer = torch.optim.Adam(groups, lr=args.lr)
    batch = "fresh" if args.fresh else "fixed"
    learning = " and encoder" if args.train_encoder else ""
    objective = "the term and the reconstruction" if args.with_rec else "the term alone"
    print(f"field{learning} of {args.run} on {objective}, {args.images} {batch} images, t in "
          f"[{args.t_low}, {high}), chance {1 / model.num_factors:.2f}")
    print(f"{'step':>5} {'loss':>7} {'acc var.':>9} {'acc inv.':>9} {'other images: var.':>19}"
          f" {'inv.':>5}")
    for step in range(args.steps + 1):
        if step % args.every == 0:  # first: each forward re-syncs Ē in place
            with torch.no_grad():
                _, held = accuracies(model, other, held_draws, args.seed, step)
        if args.fresh and step > 0:
            fixed = pixels(store, np.sort(rng.choice(training_rows, args.images, replace=False)))
            draws = draw(args.images)
        loss, fit = accuracies(model, fixed, draws, args.seed, step)
        if step % args.every == 0:
            print(f"{step:5d} {loss.item():7.3f} {fit['variant']:9.2f} {fit['invariant']:9.2f} "
                  f"{held['variant']:19.2f} {held['invariant']:5.2f}", flush=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
