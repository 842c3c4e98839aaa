"""The application layer: what each ``disdiff`` command does, as functions of plain arguments
that return typed results (:mod:`disdiff_core.app.results`). Commands parse, call one of these
and print; the quickstart and experiments call them too. :mod:`disdiff_core.api` re-exports
the public names."""
