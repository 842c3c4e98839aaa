"""Mapping the reference code's state-dict names and layouts onto this toolkit's modules.

The toolkit's modules keep the reference's inner names (``in_layers``, ``emb_layers``,
``out_layers``, ``skip_connection``, ``qkv``, ``proj_out``, LDM's autoencoder names), so most keys
only change their prefix. Three tensors also change layout:

* attention ``qkv`` (weight and bias): the reference's legacy head layout orders the 3·C output
  channels as [q, k, v] per head; the toolkit's as [all q | all k | all v], heads contiguous in
  each (the channel order of ``use_new_attention_order: true`` in the reference, kept as is);
* ``part_latents.weight`` W: the reference's matrix exponential returns exp(−A), so its factor
  embeddings are rows of expm(Wᵀ − W); the toolkit computes rows of expm(W' − W'ᵀ), so W' = Wᵀ;
* Encoder4's layer indices equal the toolkit's ``conv4`` with ``third_relu: false``; its residual
  blocks' ``convs`` are the toolkit's ``branch`` and its last layer (index 16) is ``head``.

Each mapping is a list of :class:`KeyMap` (reference name, toolkit name, conversion), built from
the toolkit module itself, and works both ways: :func:`to_toolkit` loads reference tensors,
:func:`to_reference` names toolkit tensors (e.g. gradients) as the reference does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from disdiff_core.errors import DisdiffError
from disdiff_plugins.nn.blocks import AttentionBlock

Convert = Callable[[Tensor], Tensor]

#: Prefixes of the reference's LatentDiffusion state dict.
UNET = "model.diffusion_model."
FIRST_STAGE = "first_stage_model."
ENCODER = "cond_stage_model.encoder."
SCALE_FACTOR = "scale_factor"


def _same(tensor: Tensor) -> Tensor:
    return tensor


def _transpose(tensor: Tensor) -> Tensor:
    return tensor.transpose(0, 1).contiguous()


@dataclass(frozen=True)
class KeyMap:
    """One tensor: its reference name, its toolkit name, and the layout changes both ways."""

    reference: str
    toolkit: str
    shape: tuple[int, ...]
    to_toolkit: Convert = _same
    to_reference: Convert = _same


def _qkv_permutation(channels: int, heads: int, legacy: bool) -> tuple[Convert, Convert]:
    """Reorder qkv's 3·C output rows between the reference layout and the toolkit's."""
    if not legacy:
        return _same, _same
    per_head = channels // heads
    # toolkit row s·C + h·c + i  ←  reference row h·3c + s·c + i
    order = [h * 3 * per_head + s * per_head + i
             for s in range(3) for h in range(heads) for i in range(per_head)]
    inverse = [0] * len(order)
    for toolkit_row, reference_row in enumerate(order):
        inverse[reference_row] = toolkit_row
    return (lambda t: t[order].contiguous()), (lambda t: t[inverse].contiguous())


def _attention_layouts(module: nn.Module, legacy: bool) -> dict[str, tuple[Convert, Convert]]:
    """``{toolkit key of a qkv tensor: conversions}`` for every attention block of ``module``."""
    layouts = {}
    for prefix, block in module.named_modules():
        if isinstance(block, AttentionBlock):
            channels = block.proj_out.weight.shape[0]
            convert = _qkv_permutation(channels, block.num_heads, legacy)
            for name in ("weight", "bias"):
                layouts[f"{prefix}.qkv.{name}"] = convert
    return layouts


def _rename(key: str, prefixes: Mapping[str, str]) -> str:
    for toolkit_prefix, reference_prefix in prefixes.items():
        if key.startswith(toolkit_prefix):
            return reference_prefix + key[len(toolkit_prefix):]
    raise DisdiffError(f"no reference name for the toolkit tensor {key!r}")


def unet_backbone_map(backbone: nn.Module, *, legacy_attention: bool) -> list[KeyMap]:
    """The toolkit ``unet`` backbone ↔ ``model.diffusion_model.{time_embed, input_blocks,
    middle_block, output_blocks, out}``."""
    prefixes = {
        "encoder.time_embed.mlp.": UNET + "time_embed.",
        "encoder.input_blocks.": UNET + "input_blocks.",
        "decoder.middle_block.": UNET + "middle_block.",
        "decoder.output_blocks.": UNET + "output_blocks.",
        "decoder.out.": UNET + "out.",
    }
    return _module_map(backbone, prefixes, legacy_attention)


def shift_field_map(field: nn.Module, *, legacy_attention: bool) -> list[KeyMap]:
    """The toolkit ``shift-unet`` field ↔ the reference's shift decoder and embeddings."""
    prefixes = {
        "factor_embedding.weight": UNET + "part_latents.weight",
        "factor_proj.": UNET + "part_emb.",
        "code_proj.": UNET + "repre_embed.",
        "decoder.middle_block.": UNET + "shift_middle_block.",
        "decoder.output_blocks.": UNET + "shift_output_blocks.",
        "decoder.out.": UNET + "shift_out.",
    }
    maps = _module_map(field, prefixes, legacy_attention)
    return [
        KeyMap(m.reference.replace(".cond_layers.0.", ".cond_emb_layers."), m.toolkit, m.shape,
               *((_transpose, _transpose) if m.toolkit == "factor_embedding.weight"
                 else (m.to_toolkit, m.to_reference)))
        for m in maps
    ]


def conv4_encoder_map(encoder: nn.Module) -> list[KeyMap]:
    """The toolkit ``conv4`` encoder (``third_relu: false``) ↔ ``cond_stage_model.encoder``."""
    head_index = len(encoder.features) + 1  # the reference's View layer sits in between
    maps = _module_map(encoder, {"features.": ENCODER, "head.": f"{ENCODER}{head_index}."}, True)
    return [KeyMap(m.reference.replace(".branch.", ".convs."), m.toolkit, m.shape) for m in maps]


def first_stage_map(first_stage: nn.Module, prefix: str) -> list[KeyMap]:
    """An LDM autoencoder: the same names under ``prefix``; its scale factor is the reference
    model's top-level ``scale_factor`` (absent from an autoencoder-only checkpoint)."""
    return [KeyMap(SCALE_FACTOR if key == "scale_factor" else prefix + key, key,
                   tuple(value.shape))
            for key, value in first_stage.state_dict().items()
            if not key.startswith("loss.")]


def _module_map(module: nn.Module, prefixes: Mapping[str, str], legacy: bool) -> list[KeyMap]:
    layouts = _attention_layouts(module, legacy)
    return [KeyMap(_rename(key, prefixes), key, tuple(value.shape),
                   *layouts.get(key, (_same, _same)))
            for key, value in module.state_dict().items()]


def to_toolkit(
    maps: list[KeyMap], reference: Mapping[str, Tensor], source: str, *, optional: set[str] = frozenset()
) -> dict[str, Tensor]:
    """The toolkit state dict from reference tensors; a missing or mis-shaped tensor is an
    error naming ``source`` (keys in ``optional`` may be missing: the module keeps its own)."""
    missing = [m.reference for m in maps if m.reference not in reference and m.toolkit not in optional]
    if missing:
        raise DisdiffError(f"{source} lacks the tensors {_some(missing)}")
    misfits = [f"{m.reference} {tuple(reference[m.reference].shape)} (the config gives "
               f"{m.shape})" for m in maps
               if m.reference in reference and tuple(reference[m.reference].shape) != m.shape]
    if misfits:
        raise DisdiffError(f"{source} does not fit the sizes its config names: {_some(misfits)}")
    return {m.toolkit: m.to_toolkit(reference[m.reference]) for m in maps
            if m.reference in reference}


def _some(items: list[str], count: int = 5) -> str:
    more = f" and {len(items) - count} more" if len(items) > count else ""
    return ", ".join(items[:count]) + more


def to_reference(maps: list[KeyMap], toolkit: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Toolkit tensors (weights or gradients) under the reference's names and layouts."""
    return {m.reference: m.to_reference(toolkit[m.toolkit]) for m in maps if m.toolkit in toolkit}
