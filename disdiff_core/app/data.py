"""Dataset stores (``disdiff data prepare``): a dataset plugin converts files the user already
has, or synthesises a procedural dataset, into the zarr store training and metrics read;
nothing is ever downloaded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from disdiff_core import registry
from disdiff_core.data.store import is_store, open_store
from disdiff_core.errors import DataError

#: Told (images written, images in all; None while unknown) as the conversion proceeds.
Advance = Callable[[int, int | None], None]


def prepare_dataset(
    name: str,
    out: str | Path,
    *,
    source: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
    force: bool = False,
    advance: Advance | None = None,
) -> Any:
    """Write dataset plugin ``name``'s store at ``out`` atomically and return it opened.

    ``params`` are the plugin's parameters; ``limit`` keeps the first images only; ``force``
    replaces a store already at ``out`` (never anything that is not a store)."""
    spec = registry.get_plugin("dataset", name)
    try:
        validated = spec.validate(dict(params or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
        fields = ", ".join(spec.params.model_fields) or "none"
        raise DataError(f"invalid parameters for dataset {spec.name!r}: {problems} "
                        f"(its parameters: {fields})") from None
    out = Path(out)
    if out.exists():
        if not is_store(out):
            raise DataError(f"{out} exists and is not a dataset store; not replacing it")
        if not force:
            raise DataError(f"{out} already holds a dataset store; pass --force to replace it")
    spec.build(validated).prepare(out, source=Path(source) if source is not None else None,
                                  limit=limit, progress=advance)
    return open_store(out)
