"""A decoder block's input [activation, skip] when the skip is shared by groups of rows.

DisDiff's field runs the decoder over B·K rows (example b's K factor codes are rows
b·K … b·K + K − 1) while the backbone skips it concatenates are per example: the skip half of
every output block's input is the same for the K rows of an example. The first layers of the
block are per-channel or linear in their input (GroupNorm normalises each group on its own,
SiLU is elementwise, a convolution is a sum over input channels), so the part of them that
reads only skip channels can run on the B example rows and be shared by the K factor rows.
That removes (1 − 1/K) of the skip channels' work in each block's first convolution and
skip-path convolution, forward and backward, and the repeated copy of the skip.

The one wrinkle is a GroupNorm group that straddles the boundary between activation and skip
channels (its statistics mix both, so differ per row): its skip channels are treated as
per-row channels. Numbers equal the plain concatenation's to float rounding
(``tests/disdiff/test_disdiff_field.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from disdiff_plugins.nn.layers import group_norm32


@dataclass(frozen=True)
class SharedSkipConcat:
    """``cat([h, skip repeated], dim=1)`` kept unmaterialised.

    Attributes:
        h: (B·K, C_h, H, W), one row per example and factor.
        skip: (B, C_s, H, W), one row per example.
        repeats: K, the rows sharing each skip row.
    """

    h: Tensor
    skip: Tensor
    repeats: int

    def repeated(self, x: Tensor) -> Tensor:
        """Per-example rows (B, …) → per-row (B·K, …) by repetition."""
        batch, *rest = x.shape
        return x.unsqueeze(1).expand(batch, self.repeats, *rest).reshape(-1, *rest)

    def materialize(self) -> Tensor:
        """The plain (B·K, C_h + C_s, H, W) concatenation."""
        return torch.cat([self.h, self.repeated(self.skip)], dim=1)


def shared_conv(conv: nn.Conv2d, x: SharedSkipConcat, split: int) -> Tensor:
    """``conv`` of the concatenation whose first ``split`` channels are per row (``x.h``'s and
    possibly the first skip channels) and the rest per example: the per-example part runs on
    B rows and is added to every row of its example."""
    per_row = _leading_channels(x, split)
    weight = conv.weight
    out = F.conv2d(per_row, weight[:, :split], conv.bias, conv.stride, conv.padding,
                   conv.dilation)
    shared = F.conv2d(x.skip[:, split - x.h.shape[1]:], weight[:, split:], None, conv.stride,
                      conv.padding, conv.dilation)
    return out + x.repeated(shared)


def shared_norm_act_conv(norm: nn.GroupNorm, act: nn.Module, conv: nn.Conv2d,
                         x: SharedSkipConcat) -> Tensor:
    """``conv(act(norm(concatenation)))`` computed with the skip-only groups on B rows (see the
    module docstring); ``norm`` is the block's GroupNorm (float32 statistics for half inputs)."""
    group = norm.num_channels // norm.num_groups
    split = -(-x.h.shape[1] // group) * group  # the first group boundary at or after C_h
    if split >= norm.num_channels:
        return conv(act(norm(x.materialize())))
    normalised_rows = _group_norm(norm, _leading_channels(x, split), 0, split)
    normalised_skip = _group_norm(norm, x.skip[:, split - x.h.shape[1]:], split,
                                  norm.num_channels)
    return shared_conv(conv, SharedSkipConcat(act(normalised_rows), act(normalised_skip),
                                              x.repeats), split)


def _leading_channels(x: SharedSkipConcat, split: int) -> Tensor:
    """The per-row part: ``x.h`` and, up to channel ``split``, the first skip channels."""
    extra = split - x.h.shape[1]
    if extra == 0:
        return x.h
    return torch.cat([x.h, x.repeated(x.skip[:, :extra])], dim=1)


def _group_norm(norm: nn.GroupNorm, x: Tensor, start: int, stop: int) -> Tensor:
    """``norm`` restricted to its channels [start, stop) (whole groups), with
    :class:`~disdiff_plugins.nn.layers.GroupNorm32`'s float32 statistics."""
    groups = (stop - start) * norm.num_groups // norm.num_channels
    weight = norm.weight[start:stop] if norm.weight is not None else None
    bias = norm.bias[start:stop] if norm.bias is not None else None
    return group_norm32(x, groups, weight, bias, norm.eps)
