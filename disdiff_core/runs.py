"""Run directories: one per training stage (or evaluation), created and read through this API.

Layout of a run directory::

    RUN/
      run.json          name, stage, status, step, created/updated times, parent runs
      recipe.yaml       the fully resolved recipe (with plugin distributions and versions)
      checkpoints/      weights as safetensors + resumable training state (no pickled code)
      weights/          final (EMA) weights of each component trained, <key>.safetensors
      metrics.jsonl     one JSON object per logged step
      tensorboard/      the same scalars and the image grids, with train.loggers: [.., tensorboard]
      train.lock        while a process trains the run: its pid and host (engine.run_lock)
      images/           PNG grids
      eval/             evaluation results (JSON with library versions)
      artifacts.zarr/   arrays commands computed from the run: codes `disdiff eval` encoded,
                        samples `disdiff sample` drew (:mod:`disdiff_core.artifacts`)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from disdiff_core.errors import RunError
from disdiff_core.io import write_json_atomic, write_text_atomic
from disdiff_core.validation import describe

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.jsonl"
ARTIFACTS_DIR = "artifacts.zarr"
STATUSES = ("created", "running", "finished", "failed", "interrupted")


class RunInfo(BaseModel):
    """What ``run.json`` must hold for the readers (listing, showing, resuming a run): a file
    edited by hand or damaged is then one RunError naming it, not a KeyError or a wrong type
    wherever a field is used. Other fields are kept as they are."""

    model_config = ConfigDict(extra="allow")

    name: str
    stage: str
    status: str
    step: int = Field(ge=0)
    created: str | None = None
    updated: str | None = None
    parents: dict[str, str] = Field(default_factory=dict)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Run:
    """A handle on one run directory. Cheap to create; every read goes to disk."""

    path: Path

    # -- creation and lookup -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        stage: str,
        recipe_yaml: str,
        name: str | None = None,
        parents: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> Run:
        """Create a run directory holding the resolved recipe.

        ``exist_ok`` re-opens an existing run of the same stage (used by ``--resume``).
        """
        path = Path(path)
        if (path / RUN_FILE).exists():
            if not exist_ok:
                raise RunError(f"{path} already holds a run; choose another --out or use --resume")
            run = cls.open(path)
            if run.stage != stage:
                raise RunError(f"{path} holds a {run.stage!r} run, not a {stage!r} run")
            return run
        for sub in ("checkpoints", "images", "eval"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        write_text_atomic(path / RECIPE_FILE, recipe_yaml)
        info = {
            "name": name or path.name,
            "stage": stage,
            "status": "created",
            "step": 0,
            "created": _now(),
            "updated": _now(),
            "parents": dict(parents or {}),
        }
        write_json_atomic(path / RUN_FILE, info)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """Open an existing run; a folder without ``run.json`` is a clear error."""
        path = Path(path)
        if not (path / RUN_FILE).is_file():
            raise RunError(f"{path} is not a run directory (no {RUN_FILE})")
        run = cls(path)
        run.info  # noqa: B018  - parse now so corruption is reported here
        return run

    # -- metadata --------------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """``run.json``, checked to hold what the readers use (:class:`RunInfo`)."""
        file = self.path / RUN_FILE
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or not JSON
            raise RunError(f"cannot read {file}: {exc}") from exc
        try:
            return RunInfo.model_validate(info).model_dump()
        except ValidationError as exc:
            raise RunError(f"{file} is damaged: {describe(exc)}") from None

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def stage(self) -> str:
        return str(self.info["stage"])

    @property
    def status(self) -> str:
        return str(self.info["status"])

    @property
    def step(self) -> int:
        return int(self.info["step"])

    def update(self, **fields: Any) -> None:
        """Update fields of ``run.json`` (status, step, anything extra) atomically."""
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        info = self.info
        info.update(fields)
        info["updated"] = _now()
        write_json_atomic(self.path / RUN_FILE, info)

    # -- paths -------------------------------------------------------------------------------
    @property
    def recipe_path(self) -> Path:
        return self.path / RECIPE_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def images_dir(self) -> Path:
        return self.path / "images"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    @property
    def artifacts_path(self) -> Path:
        return self.path / ARTIFACTS_DIR

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    # -- metrics log -----------------------------------------------------------------------
    def log_metrics(self, step: int, values: Mapping[str, float], **extra: Any) -> None:
        """Append one JSON line ``{"step": step, "time": ..., **values}``."""
        record = {"step": int(step), "time": round(time.time(), 3), **extra}
        record.update({k: float(v) for k, v in values.items()})
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """All logged records; a torn last line (a crash mid-write) or any other damaged
        line is skipped."""
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):  # anything else is damage, skipped like a torn line
                records.append(record)
        return records

    def summary(self) -> dict[str, Any]:
        """What ``runs list --json`` prints for this run."""
        info = self.info
        return {
            "path": str(self.path),
            "name": info.get("name"),
            "stage": info.get("stage"),
            "status": info.get("status"),
            "step": info.get("step"),
            "updated": info.get("updated"),
        }


def environment_line(info: Mapping[str, Any]) -> str | None:
    """``run.json``'s ``environment`` (what the latest start trained on) in one line, or None
    for a run made before it was recorded."""
    env = info.get("environment")
    if not isinstance(env, Mapping):
        return None
    return (f"{env.get('device')}, {env.get('processes')} process(es), "
            f"{env.get('cpu_threads')} CPU thread(s), torch {env.get('torch')}, "
            f"python {env.get('python')}")


def find_runs(root: str | Path) -> Iterator[Run]:
    """Every run directory at or below ``root``, sorted by path."""
    root = Path(root)
    if not root.exists():
        raise RunError(f"{root} does not exist")
    for run_file in sorted(root.rglob(RUN_FILE)):
        yield Run(run_file.parent)
