"""User-facing errors. The CLI turns any :class:`DisdiffError` into one clear message and a
non-zero exit; anything else is a bug and keeps its traceback."""


class DisdiffError(Exception):
    """An error caused by the user's input (a recipe, a file, a name), not by the toolkit."""


class PluginError(DisdiffError):
    """A plugin is missing, ambiguous, or failed to import."""


class RecipeError(DisdiffError):
    """A recipe file is malformed or does not validate."""


class DataError(DisdiffError):
    """A dataset file or store is missing, corrupt or of the wrong shape."""


class RunError(DisdiffError):
    """A run directory is missing or incomplete."""
