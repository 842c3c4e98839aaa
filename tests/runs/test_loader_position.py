"""Every training loader resumes exactly: a new loader given the saved position of one that
handed out n batches yields the batches the old one would have yielded next, in RAM and by
chunks, with and without workers, on one rank or one of several; the saved position travels
as JSON (as in a checkpoint's state.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from disdiff_core.data.loader import make_loader


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("in_memory", [True, False])
@pytest.mark.parametrize(("num_workers", "rank", "world_size"), [(0, 0, 1), (2, 1, 2), (3, 0, 1)])
def test_restored_position_continues_the_stream(toy_store: Path, in_memory: bool, num_workers: int,
                                                rank: int, world_size: int) -> None:
    def loader():  # 864 images, windows of one 256-image chunk: many epochs and windows
        return make_loader(toy_store, batch_size=50, seed=3, in_memory=in_memory, shuffle_buffer=256,
                           num_workers=num_workers, rank=rank, world_size=world_size)

    straight = iter(loader())
    for _ in range(7):
        next(straight)
    state = json.loads(json.dumps(straight.state_dict()))
    expected = [next(straight) for _ in range(14)]
    resumed = iter(loader())
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, [next(resumed) for _ in range(14)],
                                                   strict=True))


def test_a_position_of_another_layout_is_refused(toy_store: Path) -> None:
    saved = iter(make_loader(toy_store, batch_size=50, seed=3)).state_dict()
    other = iter(make_loader(toy_store, batch_size=40, seed=3))
    with pytest.raises(ValueError, match="layout"):
        other.load_state_dict(saved)
