"""Property tests of the codes reader and ``disdiff eval-codes``: any array in a ``.npy`` or
``.npz`` (any dtype, any shape, NaN and infinities, huge and tiny values) and any damage to the
file gives codes the metrics take, or a DataError with a message; the command ends with exit 0
or 1, never a traceback or the bug exit 2."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as nps
from robust_fixtures import BOUNDED, GRID, result_or_user_error, write_grid_store
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.errors import DataError
from disdiff_core.evaluation.codes import load_codes

dtypes = st.one_of(nps.scalar_dtypes(), nps.byte_string_dtypes(), nps.unicode_string_dtypes(),
                   nps.array_dtypes(allow_subarrays=True), st.just(np.dtype(np.longdouble)))
any_arrays = nps.arrays(dtypes, nps.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
#: Metric settings small enough for 24 rows and a few seconds per command.
QUICK = {"factorvae": {"num_train": 30, "num_eval": 20, "num_variance_estimate": 24},
         "mig": {"num_train": 24}, "sap": {"num_train": 24, "num_test": 24},
         "modularity": {"num_train": 24, "num_test": 24}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The inputs' folder, also the temp folder: a crash log of a failing example lands here."""
    folder = tmp_path_factory.mktemp("codes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder


def check_codes_file(path: Path) -> None:
    """The property of the reader: finite float codes shaped (images, codes) or (images, N, D),
    or a DataError with a message."""
    codes = result_or_user_error(lambda: load_codes(path))
    if isinstance(codes, DataError):
        return
    assert codes.dtype in (np.float32, np.float64) and codes.ndim in (2, 3)
    assert codes.size and (np.abs(codes) <= np.finfo(np.float32).max).all()


@BOUNDED
@given(array=any_arrays, archive=st.booleans())
def test_any_array_in_npy_or_npz(folder: Path, array: np.ndarray, archive: bool) -> None:
    path = folder / ("codes.npz" if archive else "codes.npy")
    if archive:
        np.savez(path, codes=array)
    else:
        np.save(path, array)
    check_codes_file(path)


def test_pickled_objects_are_refused(folder: Path) -> None:
    path = folder / "objects.npy"
    np.save(path, np.array([[1, "a"], [None, 2.0]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read codes"):
        load_codes(path)


@BOUNDED
@given(array=nps.arrays(nps.floating_dtypes() | nps.integer_dtypes(), st.just((6, 2, 3))),
       cut=st.integers(0, 400), damage=st.binary(max_size=16), at=st.integers(0, 400),
       archive=st.booleans())
def test_a_damaged_file(folder: Path, array: np.ndarray, cut: int, damage: bytes, at: int,
                        archive: bool) -> None:
    """A valid file cut short and/or with bytes overwritten (header, data or zip directory)."""
    path = folder / ("damaged.npz" if archive else "damaged.npy")
    if archive:
        np.savez(path, codes=array)
    else:
        np.save(path, array)
    content = bytearray(path.read_bytes())
    content[at:at + len(damage)] = damage
    path.write_bytes(bytes(content[:max(cut, len(content) - cut)]))
    check_codes_file(path)


def _codes_for_grid() -> st.SearchStrategy[np.ndarray]:
    """One row per grid image, (24, C) or (24, N, D), of any real dtype and any values."""
    shapes = st.one_of(st.tuples(st.just(GRID.num_rows), st.integers(1, 4)),
                       st.tuples(st.just(GRID.num_rows), st.integers(1, 3), st.integers(1, 3)))
    return nps.arrays(nps.floating_dtypes() | nps.integer_dtypes() | nps.unsigned_integer_dtypes(),
                      shapes)


@settings(BOUNDED, max_examples=30)
@given(codes=_codes_for_grid(), metric=st.sampled_from(sorted(QUICK)))
def test_eval_codes_command_on_any_codes(folder: Path, codes: np.ndarray, metric: str) -> None:
    store = folder / "grid.zarr"
    if not store.exists():
        write_grid_store(store)
    np.save(folder / "grid-codes.npy", codes)
    settings = [f"--set={metric}.{key}={value}" for key, value in QUICK[metric].items()]
    result = CliRunner().invoke(app, ["eval-codes", str(folder / "grid-codes.npy"), "--data",
                                      str(store), "--metrics", metric, "--json", *settings])
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert "error: " in result.stderr and "Traceback" not in result.output
        return
    numbers = json.loads(result.stdout)["metrics"][metric]
    assert numbers and all(np.isfinite(n["mean"]) for n in numbers.values()), numbers
