"""disdiff core: interfaces, plugin registry, recipes, runs, diffusion math and the engine.

The core never imports a concrete plugin nor the CLI; plugins and the CLI import the core.
"""

__version__ = "0.1.0"
