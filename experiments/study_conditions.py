"""The conditions the toy disentanglement study (``toy_disentanglement.py``) trains: each one
the DisDiff recipe with some of its losses' parameters and recipe keys changed, trained per seed.

A condition may start from another condition's run of the same seed (a warm start: encoder and
field initialised from it) or continue it (the same recipe with fewer steps, so only the steps
that remain are trained). :func:`train_order` puts every condition after the ones it needs.
Each group below says what it asks of the method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Condition:
    """One trained condition: the disentangling loss's parameters (YAML flow, ``{lam}`` is
    --lambda, ``{half}`` half the condition's steps), other recipe overrides, the condition
    whose run of the same seed initialises the encoder and the field (a warm start), if any,
    how many times --steps it trains, and the condition whose finished run of the same seed it
    continues (``--continue-from``: the same recipe with fewer steps, so the run only trains
    the steps that remain and equals a run trained straight), if any."""

    label: str
    disentangle: str
    sets: tuple[str, ...] = ()
    warm_from: str | None = None
    steps_scale: int = 1
    continues: str | None = None


CONDITIONS = {
    "lambda0": Condition("same recipe, λ = 0 (PDAE-style)", "{{weight: 0.0}}"),
    "disdiff": Condition("DisDiff (λ = {lam}, faithful)", "{{weight: {lam}}}"),
    "disdiff-wnorm": Condition("DisDiff (λ = {lam}, w normalised by its batch mean)",
                               "{{weight: {lam}, w_normalize: true}}"),
    "disdiff-wnorm-l1": Condition("DisDiff (λ = 1, w normalised by its batch mean)",
                                  "{{weight: 1.0, w_normalize: true}}"),
    "disdiff-image-w": Condition("DisDiff (λ = {lam}, w over the decoded image)",
                                 "{{weight: {lam}, weight_mode: image}}"),
    "disdiff-uniform": Condition("DisDiff (λ = {lam}, w ≡ 1)",
                                 "{{weight: {lam}, weight_mode: uniform}}"),
    "disdiff-lwarmup": Condition("DisDiff (λ = {lam}, λ warm-up over the first half)",
                                 "{{weight: {lam}, warmup_steps: {half}}}"),
    "disdiff-d32": Condition("DisDiff (λ = {lam}, D = 32)", "{{weight: {lam}}}",
                             ("encoder.params.factor_dim=32",)),
    "disdiff-refenc": Condition("DisDiff (λ = {lam}, the reference's encoder: width 128, D = 32)",
                                "{{weight: {lam}}}",
                                ("encoder.params.factor_dim=32", "encoder.params.channels=128")),
    "disdiff-detached": Condition("DisDiff (λ = {lam}, G_c on a detached code: ablation)",
                                  "{{weight: {lam}, code_gradient: detached}}"),
    "lambda0-warm": Condition("λ = 0 continued from the λ = 0 run (control)", "{{weight: 0.0}}",
                              warm_from="lambda0"),
    "disdiff-warm": Condition("DisDiff (λ = {lam}) warm-started from the λ = 0 run",
                              "{{weight: {lam}}}", warm_from="lambda0"),
    "disdiff-warm-uniform": Condition("DisDiff (λ = {lam}, w ≡ 1) warm-started from λ = 0",
                                      "{{weight: {lam}, weight_mode: uniform}}",
                                      warm_from="lambda0"),
    **{f"disdiff-warm-band-{band}{suffix}": Condition(
        f"DisDiff (λ = {weight}, w ≡ 1, only t in [{low}, {high})) warm-started from λ = 0",
        f"{{{{weight: {weight}, weight_mode: uniform, t_range: [{low}, {high}]}}}}",
        warm_from="lambda0")
       for band, (low, high) in {"mid": (400, 600), "high": (800, 1000)}.items()
       for suffix, weight in {"": "{lam}", "-l1": "1.0"}.items()},
    "disdiff-warm-band-mid-l1-detached": Condition(
        "DisDiff (λ = 1, w ≡ 1, only t in [400, 600), G_c on a detached code) warm-started",
        "{{weight: 1.0, weight_mode: uniform, t_range: [400, 600], code_gradient: detached}}",
        warm_from="lambda0"),
}
#: Conditions also trained for five times the steps (a longer budget for the term to learn in).
LONGER = ("lambda0-warm", "disdiff-warm-band-mid", "disdiff-warm-band-mid-l1-detached")


def scaled(name: str, scale: int) -> Condition:
    """Condition ``name`` trained for ``scale`` times the steps."""
    return replace(CONDITIONS[name], steps_scale=scale,
                   label=CONDITIONS[name].label + f", {scale} × the steps")


def with_sets(name: str, *overrides: str, what: str) -> Condition:
    """Condition ``name`` with more recipe overrides, its label saying ``what`` they change."""
    return replace(CONDITIONS[name], sets=(*CONDITIONS[name].sets, *overrides),
                   label=f"{CONDITIONS[name].label}, {what}")


CONDITIONS.update({f"{name}-long": scaled(name, 5) for name in LONGER})
#: Conditions also trained with the encoder's learning rate at a tenth (the term's target, Ē,
#: then moves slowly: a field trained on the term learns its ranking only under a still Ē).
SLOW_ENCODER = ("lambda0-warm", "disdiff-warm", "disdiff-warm-band-mid",
                "disdiff-warm-band-mid-l1-detached")
CONDITIONS.update({
    f"{name}-slowenc": with_sets(name, "train.lr_scale={encoder: 0.1}", what="encoder lr × 0.1")
    for name in SLOW_ENCODER})
#: Conditions also trained with Ē a slow moving average of E (decay 0.995 per step, a horizon
#: of about 200 steps) instead of a copy: the ruler moves slowly while the codes stay live.
AVERAGED_ENCODER = ("disdiff-warm", "disdiff-warm-band-mid", "disdiff-warm-band-mid-l1-detached")
CONDITIONS.update({f"{name}-emaenc": replace(
    CONDITIONS[name],
    disentangle=CONDITIONS[name].disentangle.removesuffix("}}") + ", frozen_encoder_decay: 0.995}}",
    label=CONDITIONS[name].label + ", Ē an average of E (decay 0.995)")
    for name in AVERAGED_ENCODER})
#: Field first: the field learns the band's term against a still encoder (lr × 0), then the
#: encoder joins (at a tenth of the rate, or at the full rate with Ē an average of E), with the
#: term on a detached code (the encoder then learns from the reconstruction through fields that
#: already specialise) or on the live code.
FIELD_FIRST = "disdiff-warm-band-mid-l1-frozenenc"
CONDITIONS[FIELD_FIRST] = replace(
    CONDITIONS["disdiff-warm-band-mid-l1"], sets=("train.lr_scale={encoder: 0.0}",),
    label=CONDITIONS["disdiff-warm-band-mid-l1"].label + ", encoder frozen")
CONDITIONS.update({
    f"fieldfirst-{name.removeprefix('disdiff-warm-')}": replace(
        CONDITIONS[name], warm_from=FIELD_FIRST,
        label=re.sub(" warm-started( from λ = 0)?", " after the field-first run",
                     CONDITIONS[name].label))
    for name in ("disdiff-warm-band-mid-l1-detached-slowenc", "disdiff-warm-band-mid-slowenc",
                 "disdiff-warm-band-mid-l1-detached-emaenc", "disdiff-warm-band-mid-emaenc")})
#: The field-first chain at 3 × the steps in both phases (the encoder joins at lr × 0.1, live),
#: and its control: λ = 0 continued at the encoder's lr × 0.1 for as many steps as phase two.
CONDITIONS[f"{FIELD_FIRST}-x3"] = scaled(FIELD_FIRST, 3)
CONDITIONS["fieldfirst-x3-band-mid-slowenc"] = replace(
    CONDITIONS["fieldfirst-band-mid-slowenc"], warm_from=f"{FIELD_FIRST}-x3", steps_scale=3,
    label=CONDITIONS["fieldfirst-band-mid-slowenc"].label + ", both phases 3 × the steps")
CONDITIONS["lambda0-warm-slowenc-x3"] = scaled("lambda0-warm-slowenc", 3)
#: The reference's optimiser regime scaled to a CPU run: lr 2e-6 × batch (2.56e-4 at the
#: reference's batch 128) at batch 64, with a linear warm-up over a quarter of an 800-step run
#: (the reference's 10k steps would never end here). AdamW with weight decay 0.01 is the
#: recipes' default already; EMA stays 0.999 (0.9999 would leave the weights near their start).
REFERENCE_OPTIMISER = ("train.batch_size=64", "train.lr=1.28e-4", "train.warmup_steps=200")
CONDITIONS.update({
    f"{name}-refopt": with_sets(name, *REFERENCE_OPTIMISER, what="reference optimiser regime")
    for name in ("lambda0", "disdiff")})
#: The faithful recipe and its λ = 0 twin at 3, 5 and 10 × the steps (on the latent backbone w,
#: and with it the term's weight, grows through training: a longer run gives it the time).
CONDITIONS.update({f"{name}-x{scale}": scaled(name, scale)
                   for name in ("lambda0", "disdiff") for scale in (3, 5, 10)})
#: The faithful recipe with the term weighted more than the reference's 0.05 (its launcher ran
#: 1.0, overriding the YAML), at 5 and 10 × the steps: at λ = 0.05 the term's accuracy still
#: climbs at step 4000; does more pressure take it past 2/N sooner, and widen the codes' lead?
CONDITIONS.update({f"disdiff-lam{lam}-x{scale}": replace(
    CONDITIONS[f"disdiff-x{scale}"], disentangle=f"{{{{weight: {lam}}}}}",
    label=f"DisDiff (λ = {lam}, faithful otherwise), {scale} × the steps")
    for lam in ("0.1", "0.2", "0.3", "0.5", "1.0") for scale in (5, 10)})
#: The larger λ reached by a linear ramp over the first half of the run: λ = 0.3 learns
#: more slowly than 0.2 from the start (the young field cannot take it); ramped, the field
#: grows first and the term gets the larger weight late, when w has grown.
CONDITIONS.update({f"disdiff-lam{lam}-lwarmup-x5": replace(
    CONDITIONS[f"disdiff-lam{lam}-x5"],
    disentangle=f"{{{{weight: {lam}, warmup_steps: {{half}}}}}}",
    label=f"DisDiff (λ = {lam} ramped over the first half), 5 × the steps")
    for lam in ("0.2", "0.3")})
#: λ = 0 and λ = 0.2 at 4000 (or 8000) steps of batch 32 (the study's recipe trains at 16): the
#: term is a 6-way classification whose gradient, from 16 images a step, is noisy; twice the
#: images a step. ``disdiff-lam0.2-b32-x5`` is what recipes/shapes3d-cpu/ trains.
CONDITIONS.update({
    f"{name}-b32-x{scale}": with_sets(f"{name}-x{scale}", "train.batch_size=32", what="batch 32")
    for name in ("lambda0", "disdiff-lam0.2") for scale in (5, 10)})
#: The same pair at batch 64, halfway from the CPU recipe's 32 to the reference's 128: batch
#: 16 → 32 took the term past 2/N in every seed; does a larger batch keep the weak seeds'
#: colours in one code each? ``disdiff-lam0.2-b64-x5`` is what recipes/shapes3d-cpu-b64/ trains.
CONDITIONS.update({
    f"{name}-b64-x5": with_sets(f"{name}-x5", "train.batch_size=64", what="batch 64")
    for name in ("lambda0", "disdiff-lam0.2")})
#: The CPU recipe's pair with N = 8 codes for the grid's 6 factors: in the seeds where DisDiff
#: fell behind, one colour was split over several codes or two colours shared one; spare codes
#: give a split somewhere to go without taking another factor's code.
CONDITIONS.update({
    f"{name}-b32-n8-x5": with_sets(f"{name}-b32-x5", "encoder.params.num_factors=8",
                                   what="N = 8")
    for name in ("lambda0", "disdiff-lam0.2")})
#: The reference's encoder at 5 × the steps: is the term's plateau near 2/N the small encoder's?
CONDITIONS["disdiff-refenc-x5"] = scaled("disdiff-refenc", 5)
#: PDAE's timestep weighting of the reconstruction, SNR^0.1 / (1 + SNR) (the mean shift's
#: ``snr_weighting``, off in the reference): the small t, where ε_θ alone is right and the
#: fields have nothing to add, stop drowning the gradient of the large t, where the code matters.
CONDITIONS.update({
    f"{name}-snr": with_sets(name, "losses.0.params.snr_weighting=true",
                             what="reconstruction SNR-weighted (PDAE)")
    for name in ("lambda0", "disdiff")})
#: The larger λ with PDAE's weighting, at 5 × the steps, and its λ = 0 twin: the weighting
#: widened the DCI gap at 800 steps; does it add to the larger λ's?
CONDITIONS["lambda0-snr-x5"] = scaled("lambda0-snr", 5)
CONDITIONS["disdiff-lam0.2-snr-x5"] = replace(
    CONDITIONS["disdiff-lam0.2-x5"], sets=CONDITIONS["disdiff-snr"].sets,
    label=CONDITIONS["disdiff-lam0.2-x5"].label + ", reconstruction SNR-weighted (PDAE)")


def shorter_twin(name: str) -> str | None:
    """The condition that ``name`` trains for more steps of and is otherwise equal to (its
    ``-x5`` twin for an ``-x10`` one), or None."""
    if not name.endswith("-x10"):
        return None
    twin = name.removesuffix("-x10") + "-x5"
    if twin not in CONDITIONS:
        return None
    longer, shorter = CONDITIONS[name], CONDITIONS[twin]
    same = replace(longer, steps_scale=shorter.steps_scale, label=shorter.label) == shorter
    return twin if same and "{half}" not in longer.disentangle else None


#: Every ``-x10`` condition continues its ``-x5`` twin's run: with the learning rate constant
#: after warm-up, the first half of the 8000 steps IS the twin's run (bit for bit), so only the
#: second half is trained.
CONDITIONS.update({name: replace(condition, continues=twin)
                   for name, condition in CONDITIONS.items() if (twin := shorter_twin(name))})


def train_order(conditions: list[str]) -> list[str]:
    """Trained conditions, each after the one it is warm-started from or continues."""
    order: list[str] = []

    def add(name: str) -> None:
        for source in (CONDITIONS[name].warm_from, CONDITIONS[name].continues):
            if source:
                add(source)
        if name not in order:
            order.append(name)

    for name in conditions:
        if name != "untrained":
            add(name)
    return order
