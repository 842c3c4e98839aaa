"""``disdiff data prepare|info|preview``: make a dataset store, describe it, look at it.

``prepare`` converts files the user already has (or synthesises a procedural dataset) into the
zarr store that training and metrics read; nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from disdiff_cli.console import err, out, print_json
from disdiff_cli.options import key_values

data_app = typer.Typer(
    help="Prepare dataset stores (convert your files, or synthesise), describe and preview them.",
    no_args_is_help=True,
)


@data_app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help="dataset plugin (see `disdiff plugins list -k dataset`)")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="store folder to write (e.g. data/shapes3d.zarr)")],
    source: Annotated[Path | None, typer.Option("--source", "-s", help="your file or folder (readers only)")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="plugin parameter key=value (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="keep only the first N images")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing store at --out")] = False,
) -> None:
    """Convert a dataset you have (or synthesise one) into a store, atomically."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from disdiff_core import api

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(f"[bold]{name}[/]", *columns, console=err, transient=True) as progress:
        task = progress.add_task(name, total=None)
        store = api.prepare_dataset(
            name, out_path, source=source, params=key_values(sets or [], "--set"), limit=limit,
            force=force, advance=lambda done, total: progress.update(task, completed=done,
                                                                     total=total))
    h, w, c = store.image_shape
    factors = ", ".join(f"{n} {s}" for n, s in zip(store.factor_names, store.factor_sizes,
                                                    strict=True)) or "no factors"
    out.print(f"wrote {store.num_images} images of {h}×{w}×{c} to {out_path} ({factors})")


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return ""


@data_app.command("info")
def info(
    store_path: Annotated[Path, typer.Argument(help="dataset store folder")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Describe a store: images, factors, labels, source and checksum, preprocessing."""
    from disdiff_core.data.store import open_store

    store = open_store(store_path)
    summary = store.describe()
    summary["disk_bytes"] = _disk_bytes(store_path)
    if as_json:
        print_json(summary)
        return
    h, w, c = store.image_shape
    table = Table(title=f"dataset store {store_path}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    rows = [
        ("dataset", store.name + (f" ({store.variant})" if store.variant else "")),
        ("images", f"{store.num_images} × {h}×{w}×{c} uint8, {store.chunk_images} per chunk"),
        ("size", f"{_human(store.nbytes)} uncompressed, {_human(summary['disk_bytes'])} on disk"),
        ("factors", ", ".join(f"{n} ({s})" for n, s in zip(store.factor_names,
                                                           store.factor_sizes, strict=True))
         or "none"),
    ]
    if store.attribute_names:
        rows.append(("attributes", f"{len(store.attribute_names)}: "
                     + ", ".join(store.attribute_names)))
    if summary["nuisance_names"]:
        rows.append(("nuisance", ", ".join(f"{n} ({s})" for n, s in zip(
            summary["nuisance_names"], summary["nuisance_sizes"], strict=True))))
    source = summary.get("source")
    rows += [
        ("source", "procedural" if not source else
         f"{source['name']} ({source['num_files']} file{'s' if source['num_files'] != 1 else ''})"),
        ("sha256", source["sha256"] if source else "-"),
        ("preprocessing", str(summary.get("preprocessing") or "-")),
        ("params", ", ".join(f"{k}={v}" for k, v in (summary.get("params") or {}).items()) or "-"),
        ("toolkit", f"disdiff {summary.get('toolkit_version')}, {summary.get('created')}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


@data_app.command("preview")
def preview(
    store_path: Annotated[Path, typer.Argument(help="dataset store folder")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write")],
    seed: Annotated[int, typer.Option("--seed", help="chooses the images shown")] = 0,
    columns: Annotated[int, typer.Option("--columns", min=2, help="images per row")] = 10,
    zoom: Annotated[int, typer.Option("--zoom", min=1, max=8, help="integer upscaling")] = 1,
) -> None:
    """Write a PNG of random images and, per factor, a row varying only that factor."""
    from disdiff_core.data.preview import preview_grid
    from disdiff_core.data.store import open_store
    from disdiff_core.images import save_png

    store = open_store(store_path)
    image = preview_grid(store, seed=seed, columns=columns, zoom=zoom)
    save_png(out_path, image)
    out.print(f"wrote {out_path} ({image.shape[1]}×{image.shape[0]})")
