"""What survives the first stage: how well each factor of a grid can be read, by the same
classifiers, from the images, from the first stage's latent (what the backbone diffuses and the
DisDiff codes are trained to reconstruct), from the quantised latent and from the decoded
reconstruction, and, when DisDiff runs are given, from their codes.

    python experiments/first_stage_probe.py RUN --data STORE [--disdiff RUN ...]
        [--images 6000] [--seed 0] [--skip image reconstruction] [--json out.json]

RUN is any run that carries a first stage (the first stage's own run, a backbone or a DisDiff
run over it). ``--images`` rows are drawn with ``RandomState(seed)``; a fifth of them is held
out. Two probes per factor, on standardised features: multinomial logistic regression (what a
linear read-out finds) and a one-hidden-layer MLP (what a small non-linear one finds). The
DisDiff codes are the raw N·D dimensions of the run's EMA encoder.

Why: a DCI breakdown of the CPU demonstration's runs found that scale, shape and orientation are
hardly predictable from any code (DisDiff's or λ = 0's). The codes are trained only through
the backbone's reconstruction of the first stage's latent, so a factor the latent does not carry
cannot reach them however the disentangling term is set; a factor the latent carries and the
codes miss is the encoder's or the training's to learn.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from disdiff_core.data.store import open_store
from disdiff_core.io import write_json_atomic
from disdiff_core.loading import encode_images, load_disdiff, to_model_input
from disdiff_core.recipes.model import Component
from disdiff_core.stages.components import build_component

BATCH = 256
#: The feature sets probed besides the DisDiff codes.
FEATURES = ("image", "latent", "quantised latent", "reconstruction")


def first_stage_features(run: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """The latent ℰ(x), its quantised form (if the first stage has a codebook) and the
    reconstruction 𝒟(ℰ(x)) of ``images`` (uint8, (B, H, W, C)), each flattened per image."""
    first_stage = build_component("first_stage", "first_stage", Component(from_run=str(run)),
                                  frozen=True).eval()
    parts: dict[str, list[np.ndarray]] = {"latent": [], "quantised latent": [],
                                          "reconstruction": []}
    quantizer = getattr(first_stage, "quantize", None)
    with torch.no_grad():
        for start in range(0, len(images), BATCH):
            x = to_model_input(images[start:start + BATCH], torch.device("cpu"))
            latent = first_stage.encode(x)
            parts["latent"].append(latent.flatten(1).numpy())
            if quantizer is not None:
                parts["quantised latent"].append(quantizer(latent).z_q.flatten(1).numpy())
            parts["reconstruction"].append(first_stage.decode(latent).flatten(1).numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items() if chunks}


def probe_accuracies(features: np.ndarray, factors: np.ndarray, names: list[str],
                     seed: int) -> dict[str, dict[str, float]]:
    """Held-out accuracy of a logistic and an MLP probe per factor (last fifth held out)."""
    split = len(features) * 4 // 5
    scaler = StandardScaler().fit(features[:split])
    train, test = scaler.transform(features[:split]), scaler.transform(features[split:])
    scores: dict[str, dict[str, float]] = {}
    for column, name in enumerate(names):
        y_train, y_test = factors[:split, column], factors[split:, column]
        linear = LogisticRegression(max_iter=300).fit(train, y_train)
        mlp = MLPClassifier(hidden_layer_sizes=(256,), max_iter=200, early_stopping=True,
                            random_state=seed).fit(train, y_train)
        scores[name] = {"logistic": float(linear.score(test, y_test)),
                        "mlp": float(mlp.score(test, y_test))}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run that carries the first stage")
    parser.add_argument("--data", type=Path, required=True, help="the store (with factors)")
    parser.add_argument("--disdiff", type=Path, nargs="*", default=[],
                        help="DisDiff runs over this first stage whose codes to probe too")
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=FEATURES,
                        help="feature sets not to probe (the 3072-dim image and reconstruction "
                        "take most of the time)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    store = open_store(args.data)
    store.ground_truth()  # a store without factors stops here, with a message naming it
    names, sizes = store.factor_names, store.factor_sizes
    rows = np.sort(np.random.RandomState(args.seed).choice(store.num_images, args.images,
                                                           replace=False))
    order = np.random.RandomState(args.seed + 1).permutation(len(rows))  # split not by row
    images = store.read_rows(rows)[order]
    factors = store.factors[rows][order]
    features = {"image": images.reshape(len(images), -1).astype(np.float32)}
    if set(FEATURES[1:]) - set(args.skip):
        features |= first_stage_features(args.run, images)
    features = {name: values for name, values in features.items() if name not in args.skip}
    for run in args.disdiff:
        codes = encode_images(load_disdiff(run, device="cpu"), images)
        features[f"codes of {run.name}"] = codes.flatten(1).numpy()

    chance = {name: 1.0 / size for name, size in zip(names, sizes, strict=True)}
    results: dict[str, Any] = {"first_stage_run": str(args.run), "store": str(args.data),
                               "images": args.images, "seed": args.seed, "chance": chance,
                               "probes": {}}
    header = "features".ljust(34) + "".join(f"{name[:13]:>15}" for name in names)
    print(header + "\n" + " " * 34 + "".join(f"{'(' + format(c, '.2f') + ')':>15}"
                                             for c in chance.values()))
    for label, values in features.items():
        scores = probe_accuracies(values, factors, names, args.seed)
        results["probes"][label] = {"dims": int(values.shape[1]), "accuracy": scores}
        cells = "".join(f"{s['logistic']:>7.2f} / {s['mlp']:<5.2f}" for s in scores.values())
        print(f"{label} ({values.shape[1]})"[:34].ljust(34) + cells, flush=True)
    if args.json:
        write_json_atomic(args.json, results)


if __name__ == "__main__":
    main()
