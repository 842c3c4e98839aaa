"""The training engine: one loop for every stage (first-stage autoencoder, backbone DPM, DisDiff).

Modules, each with one job:

* :mod:`~disdiff_core.engine.config` — ``TrainConfig``, the ``train:`` section of a recipe
  (torch-free, so validating a recipe never imports torch).
* :mod:`~disdiff_core.engine.schedule` — the learning-rate warm-up.
* :mod:`~disdiff_core.engine.ema` — the exponential moving average of the trained weights.
* :mod:`~disdiff_core.engine.rng` — seeding, capture/restore of the random streams.
* :mod:`~disdiff_core.engine.checkpoint` — checkpoints without pickled code (safetensors + JSON).
* :mod:`~disdiff_core.engine.distributed` — torchrun / DDP process groups and device selection.
* :mod:`~disdiff_core.engine.progress` — live progress on a terminal, plain lines otherwise.
* :mod:`~disdiff_core.engine.loggers` — where metrics go: metrics.jsonl, optionally TensorBoard.
* :mod:`~disdiff_core.engine.run_lock` — one training process per run folder.
* :mod:`~disdiff_core.engine.trainer` — the ``Trainer`` that ties them together.

This package's ``__init__`` imports nothing, so ``disdiff_core.engine.config`` stays torch-free.
"""
