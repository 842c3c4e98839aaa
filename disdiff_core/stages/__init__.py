"""Training stages: first-stage autoencoder → backbone DPM → DisDiff, each a run of the engine.

A stage turns a resolved recipe into (trainable module, step function, data, hooks) for the
shared :class:`~disdiff_core.engine.trainer.Trainer`, and exports the final weights of every
component it trained to ``RUN/weights/<component>.safetensors`` so that a later stage (or
``encode``/``sample``/``eval``) can reuse them with ``from_run``.
"""
