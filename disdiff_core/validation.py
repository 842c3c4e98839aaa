"""One wording for pydantic validation errors in user-facing messages.

Readers of user files (stores, run files, metric settings) validate what they read with pydantic
models and turn a ValidationError into a DisdiffError; this gives all of them the same short
``key: problem`` summary instead of pydantic's multi-line report."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, *, top: str = "(top level)", limit: int = 3) -> str:
    """``key.sub: message; …`` for the first ``limit`` problems (``top`` names the whole)."""
    problems = [f"{'.'.join(map(str, error['loc'])) or top}: {error['msg']}"
                for error in exc.errors()[:limit]]
    more = len(exc.errors()) - limit
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
