"""Diffusion math shared by every part of disdiff: noise schedules and their closed forms.

* :mod:`disdiff_core.diffusion.config`: :class:`ScheduleConfig`, the torch-free description of a
  schedule (what a recipe or a checkpoint stores).
* :mod:`disdiff_core.diffusion.schedule`: :class:`NoiseSchedule` (torch), the coefficients of
  the forward process, its posterior, and the two DisDiff coefficients a_t and b_t.

This package's ``__init__`` imports nothing, so torch-free code (plugin specs, recipe validation)
can import the config module without importing torch.
"""
