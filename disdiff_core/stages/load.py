"""Where run loading used to live; it is :mod:`disdiff_core.loading` now (not a stage). Kept
for ``experiments/toy_disentanglement.py``, a study script that imports it and that the
toolkit does not rewrite under a running experiment."""

from disdiff_core.loading import encode_store, load_disdiff, read_run_recipe

__all__ = ["encode_store", "load_disdiff", "read_run_recipe"]
