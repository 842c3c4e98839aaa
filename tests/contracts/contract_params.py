"""Small parameters for the contract tests: the built-in plugins whose defaults are paper-sized
(slow to build or to run on a CPU) or that need a file. A plugin missing here (a third-party
one) is built and exercised with its defaults."""

from __future__ import annotations

from typing import Any

#: A tiny pixel-space UNet (16 px, 100 timesteps), the backbone fields are built over.
TINY_UNET = {"image_size": 16, "base_channels": 16, "channel_mult": [1, 2], "num_res_blocks": 1,
             "attention_resolutions": [8], "num_heads": 2, "norm_groups": 4,
             "schedule": {"num_timesteps": 100}}
TINY_AUTOENCODER = {"ch": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 4}

#: (kind, name) -> parameters.
SMALL: dict[tuple[str, str], dict[str, Any]] = {
    ("backbone", "unet"): TINY_UNET,
    ("first_stage", "vq"): {**TINY_AUTOENCODER, "n_embed": 16, "disc_weight": 0.0},
    ("first_stage", "kl"): {**TINY_AUTOENCODER, "disc_weight": 0.0},
    ("encoder", "conv4"): {"num_factors": 3, "factor_dim": 4, "image_size": 16, "channels": 16},
    ("encoder", "timm"): {"num_factors": 3, "factor_dim": 4, "image_size": 32,
                          "model_name": "test_resnet"},
    ("sampler", "ddpm"): {"steps": 5},
    ("sampler", "ddim"): {"steps": 5},
    ("metric", "factorvae"): {"num_train": 60, "num_eval": 40, "num_variance_estimate": 100},
    ("metric", "dci"): {"num_train": 60, "num_test": 30},
    ("metric", "mig"): {"num_train": 60},
    ("metric", "sap"): {"num_train": 60, "num_test": 30},
    ("metric", "betavae"): {"num_train": 60, "num_eval": 30, "batch_size": 8},
    ("metric", "modularity"): {"num_train": 60, "num_test": 30},
}

#: (kind, name) -> why the factory is not built here (it needs a file nothing here provides).
NOT_BUILT: dict[tuple[str, str], str] = {
    ("backbone", "diffusers"): "needs a saved diffusers model (tests/diffusion builds one)",
    ("metric", "fid"): "needs Inception weights (tests/metrics/test_fid.py uses a stand-in)",
}


def small_params(kind: str, name: str) -> dict[str, Any]:
    """The contract tests' parameters of a plugin: small ones, else its defaults."""
    return dict(SMALL.get((kind, name), {}))
