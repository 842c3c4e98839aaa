"""First stages: the interface (scale, freezing, shapes), identity, VQ and KL autoencoders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file
from torch import Tensor

from disdiff_core import registry
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_plugins.first_stages.autoencoders import KLAutoencoder, VQAutoencoder, build_vq
from disdiff_plugins.first_stages.gaussian import DiagonalGaussian
from disdiff_plugins.first_stages.identity import IdentityFirstStage
from disdiff_plugins.first_stages.losses import PatchGAN
from disdiff_plugins.first_stages.lpips import LPIPS
from disdiff_plugins.first_stages.quantizer import VectorQuantizer
from disdiff_plugins.first_stages.specs import KLParams, VQParams

#: A small VQ with the reference's 4× downsampling (three levels), fast on CPU.
TINY = {"ch": 8, "ch_mult": [1, 2, 2], "num_res_blocks": 1, "norm_groups": 4, "n_embed": 64}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These tensors are tiny: a single thread is faster and immune to a busy machine
    (intra-op threads spin against other processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_vq(**overrides) -> VQAutoencoder:
    torch.manual_seed(0)
    return build_vq(VQParams(**(TINY | {"disc_weight": 0.0} | overrides)))


def _kl_tiny() -> dict:
    return {k: v for k, v in TINY.items() if k != "n_embed"}


def images(n: int, size: int, seed: int = 1) -> Tensor:
    """Coloured squares on a black background, in [-1, 1]: (n, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 3, size, size), -1.0)
    for i in range(n):
        colour = torch.rand(3, generator=g) * 2 - 1
        top, left = torch.randint(0, size // 2, (2,), generator=g).tolist()
        side = int(torch.randint(size // 4, size // 2, (1,), generator=g))
        x[i, :, top : top + side, left : left + side] = colour[:, None, None]
    return x


# -- plugins and params -----------------------------------------------------------------------
def test_plugins_are_registered_and_build() -> None:
    assert isinstance(registry.build("first_stage", "identity"), IdentityFirstStage)
    assert isinstance(registry.build("first_stage", "vq", TINY), VQAutoencoder)
    assert isinstance(registry.build("first_stage", "kl", _kl_tiny()), KLAutoencoder)


def test_params_reject_bad_group_count_and_attention_level() -> None:
    with pytest.raises(ValidationError, match="norm_groups"):
        VQParams(ch=12, norm_groups=8)
    with pytest.raises(ValidationError, match="attn_levels"):
        VQParams(attn_levels=[3])


def test_module_names_follow_ldm_so_converted_checkpoints_load() -> None:
    keys = set(VQAutoencoder(VQParams()).state_dict())
    for key in (
        "encoder.conv_in.weight",
        "encoder.down.0.block.1.norm1.weight",
        "encoder.down.0.block.0.conv2.weight",
        "encoder.down.1.block.0.nin_shortcut.weight",
        "encoder.down.1.downsample.conv.weight",
        "encoder.mid.attn_1.q.weight",
        "decoder.up.2.block.2.conv1.weight",
        "decoder.up.2.upsample.conv.weight",
        "decoder.mid.block_2.norm2.bias",
        "quant_conv.weight",
        "post_quant_conv.weight",
        "quantize.embedding.weight",
        "loss.discriminator.main.0.weight",
        "scale_factor",
    ):
        assert key in keys, key
    assert "encoder.down.2.downsample.conv.weight" not in keys
    assert "decoder.up.0.upsample.conv.weight" not in keys


# -- VQ ---------------------------------------------------------------------------------------
def test_vq_reference_shapes_64_to_16x16x3() -> None:
    vq = VQAutoencoder(VQParams())
    x = images(2, 64)
    y = vq.encode(x)
    assert y.shape == (2, 3, 16, 16)
    assert vq.latent_shape((2, 3, 64, 64)) == (2, 3, 16, 16)
    assert vq.decode(y).shape == vq.decode(y, quantize=False).shape == (2, 3, 64, 64)
    assert vq.quantize.embedding.weight.shape == (2048, 3)
    with pytest.raises(DisdiffError, match="divisible"):
        vq.latent_shape((3, 62, 64))


@torch.no_grad()
def test_quantize_switch() -> None:
    vq = tiny_vq().eval()
    y = torch.randn(2, 3, 4, 4)
    assert not torch.allclose(vq.decode(y, quantize=True), vq.decode(y, quantize=False))
    on_codebook = vq.quantize.lookup(torch.randint(0, 64, (2, 4, 4)))
    assert torch.equal(
        vq.decode(on_codebook, quantize=True), vq.decode(on_codebook, quantize=False)
    )
    # quantize=True equals decoding the nearest codes explicitly.
    nearest = vq.quantize.lookup(vq.quantize.nearest(y))
    assert torch.allclose(
        vq.decode(y, quantize=True), vq.decode(nearest, quantize=False), atol=1e-5
    )


def test_straight_through_gradient_reaches_encoder() -> None:
    vq = tiny_vq()
    x = images(2, 16)
    xrec = vq.decode(vq.encode(x), quantize=True)  # reconstruction path only: no VQ losses
    (xrec - x).abs().mean().backward()
    grad = vq.encoder.conv_in.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_decode_without_quantisation_is_differentiable_in_the_latent() -> None:
    vq = tiny_vq().double().freeze()
    y = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    direction = torch.randn_like(y)
    (grad,) = torch.autograd.grad(vq.decode(y, quantize=False).sum(), y)
    eps = 1e-6
    with torch.no_grad():
        plus = vq.decode(y + eps * direction, quantize=False).sum()
        minus = vq.decode(y - eps * direction, quantize=False).sum()
    numeric = (plus - minus) / (2 * eps)
    assert torch.allclose((grad * direction).sum(), numeric, rtol=1e-5)


def test_codebook_and_commitment_losses_by_hand() -> None:
    quantizer = VectorQuantizer(n_embed=2, embed_dim=2, beta=0.25)
    with torch.no_grad():
        quantizer.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    # two positions: (0.2, 0.1) → code 0 and (0.9, 0.6) → code 1; z is (B=1, C=2, h=1, w=2)
    z = torch.tensor([[0.2, 0.9], [0.1, 0.6]]).view(1, 2, 1, 2).requires_grad_(True)
    q = quantizer(z)
    assert q.indices.tolist() == [[[0, 1]]]
    squared = (0.2**2 + 0.1**2 + 0.1**2 + 0.4**2) / 4  # mean over the 4 elements
    assert q.codebook_loss.item() == pytest.approx(squared)
    assert q.commitment_loss.item() == pytest.approx(0.25 * squared)
    assert torch.equal(q.z_q.detach(), torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 2, 1, 2))
    # codebook term moves only the codes, commitment term only z
    codes = quantizer.embedding.weight
    assert torch.autograd.grad(q.codebook_loss, z, allow_unused=True)[0] is None
    (grad_codes,) = torch.autograd.grad(q.codebook_loss, codes, retain_graph=True)
    expected = torch.tensor([[-0.2, -0.1], [0.1, 0.4]]) * 2 / 4
    assert torch.allclose(grad_codes, expected)
    (grad_z,) = torch.autograd.grad(q.commitment_loss, z, retain_graph=True)
    assert torch.allclose(grad_z, 0.25 * 2 / 4 * (z - q.z_q).detach())
    # straight-through: d(z_q)/dz = identity
    (grad_st,) = torch.autograd.grad(q.z_q.sum(), z)
    assert torch.equal(grad_st, torch.ones_like(z))


def test_nearest_code_ignores_bf16_autocast() -> None:
    quantizer = VectorQuantizer(n_embed=512, embed_dim=3, beta=0.25)
    z = torch.randn(2, 3, 8, 8) * 1e-3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(quantizer.nearest(z), quantizer.nearest(z.double().float()))
    direct = torch.cdist(z.permute(0, 2, 3, 1).reshape(-1, 3), quantizer.embedding.weight)
    assert torch.equal(quantizer.nearest(z).flatten(), direct.argmin(1))


def test_vq_training_losses_terms() -> None:
    vq = tiny_vq()
    out = vq.training_losses(images(2, 16))
    assert {"loss", "rec", "codebook", "commitment", "perplexity"} <= set(out)
    assert all(v.ndim == 0 for v in out.values())
    assert all(not v.requires_grad for k, v in out.items() if k != "loss")
    expected = out["rec"] + out["codebook"] + out["commitment"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_tiny_vq_learns_to_reconstruct() -> None:
    vq = tiny_vq(ch_mult=[1, 2])
    x = images(8, 16)
    optimiser = torch.optim.Adam(vq.parameters(), lr=1e-3)

    def reconstruction_error() -> float:
        with torch.no_grad():
            return (vq.reconstruct(x) - x).abs().mean().item()

    before = reconstruction_error()
    for step in range(100):
        loss = vq.training_losses(x, step=step)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = reconstruction_error()
    assert after < 0.4 * before, (before, after)


# -- adversarial term ------------------------------------------------------------------------
def test_discriminator_and_generator_gradients_stay_on_their_side() -> None:
    torch.manual_seed(0)
    disc = PatchGAN(3, 8, 2)
    real = images(2, 16)
    fake = torch.randn(2, 3, 16, 16, requires_grad=True)
    disc.generator_loss(fake).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())
    fake.grad = None
    disc.discriminator_loss(real, fake).backward()
    assert fake.grad is None
    assert all(p.grad is not None for p in disc.parameters())


def test_adversarial_term_starts_at_disc_start() -> None:
    vq = tiny_vq(disc_weight=0.75, disc_start=5, disc_channels=8, disc_layers=2)
    x = images(2, 16)
    early = vq.training_losses(x, step=4)
    assert early["d_loss"] == 0 and early["d_weight"] == 0
    early["loss"].backward()
    assert all(p.grad is None for p in vq.loss.discriminator.parameters())
    late = vq.training_losses(x, step=5)
    assert late["d_loss"] > 0 and late["d_weight"] > 0
    late["loss"].backward()
    assert all(p.grad is not None for p in vq.loss.discriminator.parameters())
    with torch.no_grad():  # validation: no graph, no adaptive weight (as LDM)
        assert vq.training_losses(x, step=5)["d_weight"] == 0


# -- perceptual term -------------------------------------------------------------------------
def test_missing_perceptual_weights_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DisdiffError, match="does not exist"):
        build_vq(VQParams(**TINY, perceptual_weights=str(tmp_path / "vgg.safetensors")))


def test_perceptual_term_from_a_local_file_in_taming_layout(tmp_path) -> None:
    torch.manual_seed(0)
    reference = LPIPS()
    # taming/LDM layout: net.slice<s>.<index>.* keys under an arbitrary prefix
    slices = {0: 1, 4: 2, 9: 3, 16: 4, 23: 5}
    state = {}
    for key, tensor in reference.state_dict().items():
        if key.startswith("features."):
            index = int(key.split(".")[1])
            s = max(v for k, v in slices.items() if index >= k)
            key = f"net.slice{s}.{key.removeprefix('features.')}"
        state[f"loss.perceptual_loss.{key}"] = tensor.abs() if key.startswith("lin") else tensor
    path = tmp_path / "lpips.safetensors"
    save_file(state, str(path))
    vq = tiny_vq(perceptual_weights=str(path))
    assert not any("perceptual" in k or "features" in k for k in vq.state_dict())
    x = images(2, 16)
    lpips = vq.loss._perceptual[0]
    assert torch.allclose(lpips(x, x), torch.zeros(2))
    assert (lpips(x, -x) > 0).all()
    out = vq.training_losses(x)
    assert out["perceptual"] > 0
    assert out["loss"].item() == pytest.approx(
        (out["rec"] + out["perceptual"] + out["codebook"] + out["commitment"]).item(), rel=1e-5
    )
    bad = tmp_path / "partial.safetensors"
    save_file({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, str(bad))
    with pytest.raises(DisdiffError, match="lack"):
        tiny_vq(perceptual_weights=str(bad))


# -- KL ---------------------------------------------------------------------------------------
def test_kl_term_matches_closed_form() -> None:
    moments = torch.randn(3, 8, 4, 4)
    posterior = DiagonalGaussian(moments)
    mean, logvar = moments.chunk(2, dim=1)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=(1, 2, 3))
    assert torch.allclose(posterior.kl(), expected, rtol=1e-5)


def test_kl_autoencoder_encode_loss_and_shapes() -> None:
    torch.manual_seed(0)
    kl = KLAutoencoder(KLParams(**_kl_tiny(), disc_weight=0.0))
    x = images(2, 16)
    assert kl.encode(x).shape == (2, 4, 4, 4)
    assert torch.equal(kl.encode(x), kl.posterior(x).mean)  # deterministic: the mean
    assert kl.decode(kl.encode(x)).shape == x.shape
    out = kl.training_losses(x)
    assert out["kl"].item() == pytest.approx(kl.posterior(x).kl().mean().item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((out["nll"] + 1e-6 * out["kl"]).item(), rel=1e-6)
    # logvar = 0: nll is the summed L1 error divided by the batch
    assert out["nll"].item() == pytest.approx(out["rec"].item() * 3 * 16 * 16, rel=1e-4)
    sampler = KLAutoencoder(KLParams(**_kl_tiny(), disc_weight=0.0, sample_posterior=True))
    assert not torch.equal(sampler.encode(x), sampler.encode(x))


# -- scale factor ----------------------------------------------------------------------------
class _Affine(FirstStage):
    """ℰ(x) = 2x + 1 on pixels, 𝒟 its inverse: a first stage with a known latent law."""

    def __init__(self) -> None:
        super().__init__(downsample=1, latent_channels=3)

    def encode(self, x: Tensor) -> Tensor:
        return 2 * x + 1

    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        return (y - 1) / 2

    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        raise NotImplementedError


def test_scale_factor_is_one_over_latent_std() -> None:
    g = torch.Generator().manual_seed(0)
    batches = [0.3 + 1.25 * torch.randn(16, 3, 8, 8, generator=g) for _ in range(6)]
    stage = _Affine()
    s = stage.measure_scale_factor(iter(batches), num_batches=5)
    latents = torch.cat([stage.encode(b) for b in batches[:5]]).double()
    assert s == pytest.approx(1.0 / latents.flatten().std().item(), rel=1e-9)
    assert s == pytest.approx(1.0 / 2.5, rel=0.02)  # std of 2·N(0.3, 1.25²) + 1
    assert stage.scale_factor.item() == pytest.approx(s)
    assert "scale_factor" in stage.state_dict()
    # (image, label) batches are accepted; all batches when num_batches is None
    s_all = stage.measure_scale_factor((b, None) for b in batches)
    everything = torch.cat([stage.encode(b) for b in batches]).double()
    assert s_all == pytest.approx(1.0 / everything.std().item(), rel=1e-9)
    x = batches[0]
    y = stage.encode_scaled(x)
    assert torch.allclose(y, s_all * stage.encode(x))
    assert torch.allclose(stage.decode_scaled(y), x, atol=1e-5)


def test_scale_factor_of_a_vq_is_measured_on_pre_quantisation_latents() -> None:
    vq = tiny_vq()
    batches = [images(4, 16, seed) for seed in range(3)]
    s = vq.measure_scale_factor(batches)
    with torch.no_grad():
        latents = torch.cat([vq.encode(b) for b in batches]).double()
    assert s == pytest.approx(1.0 / latents.std().item(), rel=1e-6)
    assert vq.training  # mode restored


def _batches() -> Iterator[Tensor]:
    yield images(2, 16)


# -- identity --------------------------------------------------------------------------------
def test_identity_round_trip() -> None:
    stage = registry.build("first_stage", "identity")
    x = images(2, 16)
    assert torch.equal(stage.decode_scaled(stage.encode_scaled(x)), x)
    assert stage.scale_factor.item() == 1.0
    assert stage.measure_scale_factor(_batches()) == 1.0  # pixel space keeps s = 1
    assert stage.latent_shape((2, 3, 16, 16)) == (2, 3, 16, 16)
    assert list(stage.parameters()) == []
    with pytest.raises(DisdiffError, match="nothing to train"):
        stage.training_losses(x)


# -- freezing and checkpoints ----------------------------------------------------------------
def test_freezing_survives_train_and_a_downstream_optimiser_step() -> None:
    vq = tiny_vq().freeze()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    latent = torch.nn.Parameter(torch.randn(1, 3, 4, 4))
    optimiser = torch.optim.AdamW([*vq.parameters(), latent], lr=0.1)
    torch.nn.Sequential(vq).train()  # an enclosing module switching to training mode
    assert not vq.training
    vq.decode_scaled(latent, quantize=False).pow(2).mean().backward()
    optimiser.step()
    assert all(torch.equal(before[k], v) for k, v in vq.state_dict().items())
    assert latent.grad is not None and not torch.equal(latent.grad, torch.zeros_like(latent))
    with pytest.raises(DisdiffError, match="frozen"):
        vq.training_losses(images(1, 16))


def test_checkpoint_loads_frozen_with_its_scale_factor(tmp_path) -> None:
    trained = tiny_vq(disc_weight=0.75, disc_channels=8, disc_layers=2)
    trained.scale_factor.fill_(0.7)
    path = tmp_path / "vq.safetensors"
    save_file(trained.state_dict(), str(path))
    loaded = build_vq(VQParams(**TINY, checkpoint=str(path)))
    assert loaded.frozen and loaded.loss is None
    assert loaded.scale_factor.item() == pytest.approx(0.7)
    x = images(2, 16)
    with torch.no_grad():
        assert torch.equal(loaded.encode_scaled(x), trained.eval().encode_scaled(x))
    with pytest.raises(DisdiffError, match="does not exist"):
        build_vq(VQParams(**TINY, checkpoint=str(tmp_path / "missing.safetensors")))
    with pytest.raises(DisdiffError, match="does not fit"):
        build_vq(VQParams(**(TINY | {"n_embed": 32}), checkpoint=str(path)))
    with pytest.raises(DisdiffError, match="does not fit"):
        build_vq(VQParams(**(TINY | {"num_res_blocks": 2}), checkpoint=str(path)))
