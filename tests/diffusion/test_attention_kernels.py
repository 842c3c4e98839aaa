"""Attention takes the fused ``scaled_dot_product_attention`` kernels (contiguous heads) and
matches the plain math path: restricted to the flash backend, SDPA raises instead of falling
back, so a layout it refuses fails these tests."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from disdiff_plugins.first_stages.blocks import AttnBlock
from disdiff_plugins.nn.blocks import AttentionBlock


def _randomised(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return module


def _output_and_grads(block: nn.Module, x: torch.Tensor, backend: SDPBackend):
    block.zero_grad()
    x = x.clone().requires_grad_(True)
    with sdpa_kernel([backend]):
        out = block(x)
        out.square().sum().backward()
    return out.detach(), x.grad, [p.grad.clone() for p in block.parameters()]


@pytest.mark.parametrize(
    "block", [AttentionBlock(16, num_heads=4, norm_groups=4), AttnBlock(16, groups=4)],
    ids=["unet", "first-stage"],
)
def test_attention_runs_on_the_fused_cpu_kernel_and_matches_math(block: nn.Module) -> None:
    block = _randomised(block)
    x = torch.randn(3, 16, 8, 8, generator=torch.Generator().manual_seed(1))
    fused = _output_and_grads(block, x, SDPBackend.FLASH_ATTENTION)
    math = _output_and_grads(block, x, SDPBackend.MATH)
    torch.testing.assert_close(fused[0], math[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused[1], math[1], rtol=1e-5, atol=1e-5)
    for fused_grad, math_grad in zip(fused[2], math[2], strict=True):
        torch.testing.assert_close(fused_grad, math_grad, rtol=1e-4, atol=1e-5)


def test_the_fused_cpu_kernel_refuses_a_transposed_layout() -> None:
    """The layout the blocks used to pass ((B, heads, L, d) as a transposed view) is refused,
    so the test above would catch a return to it."""
    q = torch.randn(2, 4, 4, 64).transpose(-1, -2)  # last dimension of stride 64
    with (
        sdpa_kernel([SDPBackend.FLASH_ATTENTION]),
        pytest.warns(UserWarning),
        pytest.raises(RuntimeError, match="No available kernel"),
    ):
        F.scaled_dot_product_attention(q, q, q)


def test_checkpoint_layout_is_unchanged() -> None:
    """Parameter names and shapes are those of existing checkpoints (qkv: (3C, C, 1))."""
    shapes = {name: tuple(p.shape) for name, p in AttentionBlock(16, 4, 4).state_dict().items()}
    assert shapes == {"norm.weight": (16,), "norm.bias": (16,), "qkv.weight": (48, 16, 1),
                      "qkv.bias": (48,), "proj_out.weight": (16, 16, 1), "proj_out.bias": (16,)}
