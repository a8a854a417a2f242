"""The image architectures of App. A (Tables A.2, A.3, A.4): shapes, seed independence, structure, sizes."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ica.errors import SpecError
from ica.nn.layers import SeedDropout, SeedLinear, one_hot
from ica.components.registry import registry
from ica.components.protocols import BuildContext, count_parameters
from ica.nn.seeding import build_seeded, check_seed_axis, generator, seed_generators
from ica.spec.models import spec_models

REG = registry()
B, K_U = 3, 4
TABLE_A2 = {"hidden": [512, 384, 256, 256], "negative_slope": 0.1, "dropout": 0.1, "dropout_after": [2]}
# Small widths keep these tests fast; the structure (number of layers, kernels, strides) is the tables'.
TINY = {
    "mlp": {"hidden": [6, 5, 4], "dropout": 0.3, "dropout_after": [1]},
    "convnet": {"channels": [2, 3, 4, 5], "features": 6, "hidden": 7},
    "resnet": {"channels": [4, 6, 8], "stem": 4},
}
IMAGES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]


def build(kind: str, name: str, ctx: BuildContext, **opts):
    cls = spec_models(REG).tagged[(kind, name)]
    return REG.build(cls.model_validate({"name": name, **opts}), ctx)


def pair(name: str, x_shape, seeds: int = 2, cond_dim: int = 0, multiplier: int = 1, d_z: int = 3, opts=None):
    """Encoder and decoder; ``opts`` None: the tiny options above, ``{}``: the defaults."""
    ctx = BuildContext(seeds=seeds, x_shape=x_shape, latent_dim=d_z, cond_dim=cond_dim, out_multiplier=multiplier)
    opts = TINY[name] if opts is None else opts
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a fixed initialisation: these tiny networks must not pass or fail by chance
        return build("encoder", name, ctx, **opts), build("decoder", name, ctx, **opts)


def seeded_pair(name: str, x_shape, seeds: list[int], cond_dim: int = 0, d_z: int = 3):
    """Encoder and decoder for ``seeds``, each seed initialised as if alone (`build_seeded`)."""

    def make(kind):
        ctx = BuildContext(x_shape=x_shape, latent_dim=d_z, cond_dim=cond_dim)
        return build_seeded(lambda n: build(kind, name, ctx.with_(seeds=n), **TINY[name]), seeds)

    return make("encoder"), make("decoder")


def cond_for(seeds: int, cond_dim: int, g: torch.Generator) -> torch.Tensor | None:
    return one_hot(torch.randint(0, cond_dim, (seeds, B), generator=g), cond_dim) if cond_dim else None


# ------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet"])
@pytest.mark.parametrize("x_shape", IMAGES)
@pytest.mark.parametrize("cond_dim, multiplier", [(0, 1), (K_U, 2)])
def test_output_shapes(name, x_shape, cond_dim, multiplier):
    s, d_z = 2, 3
    enc, dec = pair(name, x_shape, s, cond_dim, multiplier, d_z)
    check_seed_axis(enc, s)
    check_seed_axis(dec, s)
    g = torch.Generator().manual_seed(0)
    mean, log_var = enc(torch.randn(s, B, *x_shape, generator=g), cond_for(s, cond_dim, g))
    assert mean.shape == log_var.shape == (s, B, d_z)
    out = dec(mean)
    c, h, w = x_shape
    assert out.shape == (s, B, c * multiplier, h, w)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["convnet", "resnet"])
@pytest.mark.parametrize("x_shape", [(1, 28, 28), (3, 32, 32)])
def test_default_options_give_the_tables_output_shapes(name, x_shape):
    enc, dec = pair(name, x_shape, seeds=2, cond_dim=K_U, multiplier=2, d_z=50, opts={})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        mean, log_var = enc(torch.randn(2, B, *x_shape, generator=g), cond_for(2, K_U, g))
        out = dec(mean)
    assert mean.shape == log_var.shape == (2, B, 50)
    assert out.shape == (2, B, 2 * x_shape[0], *x_shape[1:])


def test_resnet_blocks_halve_the_sides_and_the_decoder_retraces_them():
    cases = [
        ((1, 28, 28), [14, 7, 4, 2, 1]),
        ((3, 32, 32), [16, 8, 4, 2, 1]),
        ((1, 8, 8), [4, 2, 1, 1, 1]),
        ((2, 12, 5), [(6, 3), (3, 2), (2, 1), (1, 1), (1, 1)]),
    ]
    for x_shape, expected in cases:
        expected = [n if isinstance(n, tuple) else (n, n) for n in expected]
        enc, dec = pair("resnet", x_shape, opts={"channels": [2, 2, 2, 2, 2], "stem": 2})
        seen = {"enc": [], "dec": []}
        for part, module in (("enc", enc), ("dec", dec)):
            for block in module.modules():
                if type(block).__name__ in ("DownBlock", "UpBlock"):
                    block.register_forward_hook(
                        lambda m, i, o, part=part, seen=seen: seen[part].append(tuple(o.shape[-2:]))
                    )
        mean, _ = enc(torch.randn(2, B, *x_shape))
        assert dec(mean).shape == (2, B, *x_shape)
        assert seen["enc"] == expected
        assert seen["dec"] == [*expected[-2::-1], x_shape[1:]]


@pytest.mark.parametrize(
    "name, x_shape, opts, match",
    [
        ("convnet", (4,), {}, "shape \\(channels, height, width\\)"),
        ("convnet", (1, 30, 30), {}, "multiple of 4"),
        ("convnet", (1, 28, 32), {}, "square"),
        ("convnet", (1, 2, 2), {}, "multiple of 4"),
        ("resnet", (4,), {}, "shape \\(channels, height, width\\)"),
        ("resnet", (28, 28), {}, "shape \\(channels, height, width\\)"),
    ],
)
def test_unsupported_shapes_raise_a_spec_error_at_build_time(name, x_shape, opts, match):
    ctx = BuildContext(seeds=1, x_shape=x_shape, latent_dim=2)
    for kind in ("encoder", "decoder"):
        with pytest.raises(SpecError, match=match) as info:
            build(kind, name, ctx, **opts)
        assert info.value.where == kind


# -------------------------------------------------------------------------------- seed independence
ARCH_SHAPES = [("mlp", (1, 8, 8)), ("convnet", (1, 8, 8)), ("resnet", (1, 8, 8)), ("convnet", (3, 32, 32))]


@pytest.mark.parametrize("name, x_shape", ARCH_SHAPES)
@pytest.mark.parametrize("train", [False, True])
def test_a_seed_batched_with_others_equals_the_seed_built_alone(name, x_shape, train):
    seeds = [3, 5, 7]
    enc3, dec3 = seeded_pair(name, x_shape, seeds, cond_dim=K_U)
    enc1, dec1 = seeded_pair(name, x_shape, [5], cond_dim=K_U)
    for module in (enc3, dec3, enc1, dec1):
        module.train(train)
    g = torch.Generator().manual_seed(2)
    x, cond, z = torch.randn(3, B, *x_shape, generator=g), cond_for(3, K_U, g), torch.randn(3, B, 3, generator=g)
    with seed_generators([generator(s, "noise") for s in seeds]):
        mean3, log_var3 = enc3(x, cond)
        out3 = dec3(z)
    with seed_generators([generator(5, "noise")]):
        mean1, log_var1 = enc1(x[1:2], cond[1:2])
        out1 = dec1(z[1:2])
    # Batched linear layers are exact; grouped convolutions take another CPU kernel path for 3 groups than for
    # 1 and differ by rounding (~1e-7), which is all this allows (a seed mixing with another is off by O(1)).
    close = dict(rtol=0, atol=0) if name == "mlp" else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mean3[1:2], mean1, **close)
    torch.testing.assert_close(log_var3[1:2], log_var1, **close)
    torch.testing.assert_close(out3[1:2], out1, **close)
    for module3, module1 in ((enc3, enc1), (dec3, dec1)):  # running statistics too
        for (key, both), (_, alone) in zip(module3.state_dict().items(), module1.state_dict().items()):
            torch.testing.assert_close(both[1:2], alone, **close, msg=key)
    assert not torch.allclose(mean3[0], mean3[1]), "different seeds should not give the same outputs"


@pytest.mark.parametrize("name", ["convnet", "resnet"])
def test_batch_norm_statistics_are_per_seed(name):
    enc, dec = pair(name, (1, 8, 8), seeds=3)
    enc.train(), dec.train()
    g = torch.Generator().manual_seed(3)
    x, z = torch.randn(3, B, 1, 8, 8, generator=g), torch.randn(3, B, 3, generator=g)
    x_changed, z_changed = x.clone(), z.clone()
    x_changed[0] = 10 * x[0] + 5
    z_changed[0] = -4 * z[0] + 3
    before, after = enc(x)[0], enc(x_changed)[0]
    assert torch.equal(before[1:], after[1:])
    assert not torch.allclose(before[0], after[0])
    before, after = dec(z), dec(z_changed)
    assert torch.equal(before[1:], after[1:])
    assert not torch.allclose(before[0], after[0])


def test_convnet_batch_norm_uses_the_batch_in_training_and_running_statistics_in_eval():
    enc, _ = pair("convnet", (1, 8, 8), seeds=2)
    x = torch.randn(2, B, 1, 8, 8) * 3 + 1
    enc.train()
    assert not torch.allclose(enc(x[:, :1])[0], enc(x)[0][:, :1]), "train mode should normalise over the batch"
    enc.eval()
    torch.testing.assert_close(enc(x[:, :1])[0], enc(x)[0][:, :1])


@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet"])
def test_eval_mode_is_deterministic(name):
    enc, dec = pair(name, (1, 8, 8), seeds=2)
    enc.eval(), dec.eval()
    x, z = torch.randn(2, B, 1, 8, 8), torch.randn(2, B, 3)
    assert torch.equal(enc(x)[0], enc(x)[0])
    assert torch.equal(dec(z), dec(z))
    if name == "mlp":  # and dropout does act in training
        enc.train()
        assert not torch.equal(enc(x)[0], enc(x)[0])


@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet"])
def test_gradients_reach_every_parameter(name):
    enc, dec = pair(name, (1, 8, 8), seeds=2, cond_dim=K_U, multiplier=2)
    g = torch.Generator().manual_seed(4)
    mean, log_var = enc(torch.randn(2, B, 1, 8, 8, generator=g), cond_for(2, K_U, g))
    (dec(mean).square().sum() + log_var.sum()).backward()
    for module in (enc, dec):
        for pname, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
            assert p.grad.abs().sum() > 0, f"zero gradient in {pname}"


# ------------------------------------------------------------------------------------- Table A.2
def layer_summary(sequential) -> list:
    out = []
    for m in sequential:
        if isinstance(m, SeedLinear):
            out.append((m.in_features, m.out_features))
        elif isinstance(m, SeedDropout):
            out.append(("dropout", m.p))
        elif isinstance(m, torch.nn.LeakyReLU):
            out.append(("lrelu", m.negative_slope))
        else:
            out.append(type(m).__name__)
    return out


def test_mlp_table_a2_layers_and_dropout_positions():
    enc, dec = pair("mlp", (1, 28, 28), seeds=1, d_z=50, opts=TABLE_A2)
    a, d = ("lrelu", 0.1), ("dropout", 0.1)
    assert layer_summary(enc.net.net) == [
        (784, 512),
        a,
        (512, 384),
        a,
        d,
        (384, 256),
        a,
        (256, 256),
        a,
        (256, 100),  # heads: mean and log-var
    ]
    assert layer_summary(dec.net.net) == [(50, 256), a, (256, 256), a, d, (256, 384), a, (384, 512), a, (512, 784)]


def test_mlp_dropout_after_the_last_hidden_layer_mirrors_to_dropout_on_z():
    enc, dec = pair("mlp", (5,), opts={"hidden": [4, 3], "dropout": 0.2, "dropout_after": [2, 1]})
    assert [type(m).__name__ for m in enc.net.net] == [
        "SeedLinear",
        "LeakyReLU",
        "SeedDropout",
        "SeedLinear",
        "LeakyReLU",
        "SeedDropout",
        "SeedLinear",
    ]
    assert [type(m).__name__ for m in dec.net.net] == [
        "SeedDropout",
        "SeedLinear",
        "LeakyReLU",
        "SeedDropout",
        "SeedLinear",
        "LeakyReLU",
        "SeedLinear",
    ]


def test_mlp_defaults_are_unchanged():
    enc, _ = pair("mlp", (5,), opts={})
    assert layer_summary(enc.net.net) == [(5, 50), ("lrelu", 0.2), (50, 50), ("lrelu", 0.2), (50, 6)]
    assert [k for k, _ in enc.named_parameters()] == [f"net.net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]


@pytest.mark.parametrize("bad", [[5], [0], [1, 1]])
def test_mlp_rejects_dropout_positions_outside_the_hidden_layers(bad):
    cls = spec_models(REG).tagged[("encoder", "mlp")]
    with pytest.raises(ValidationError, match="dropout_after"):
        cls.model_validate({"name": "mlp", "hidden": [8, 8, 8, 8], "dropout": 0.1, "dropout_after": bad})


# ------------------------------------------------------------------------------------- Table A.3
def test_convnet_parameter_count_matches_a_hand_count_of_table_a3():
    w, c, d_z = 28, 1, 50

    def conv(cin, cout, k):  # a (transposed) convolution with bias
        return cin * cout * k * k + cout

    def bn(ch):  # scale and shift
        return 2 * ch

    def fc(a, b):
        return a * b + b

    encoder = (
        conv(c, 8, 3)
        + bn(8)
        + conv(8, 16, 3)
        + bn(16)
        + conv(16, 32, 3)
        + bn(32)
        + conv(32, 64, 3)
        + bn(64)
        + conv(64, 64, w // 4)
        + fc(64, 64)
        + 2 * fc(64, d_z)
    )
    decoder = (
        fc(d_z, 64)
        + fc(64, 64)
        + conv(64, 64, w // 4)
        + bn(64)
        + conv(64, 32, 4)
        + bn(32)
        + conv(32, 16, 3)
        + bn(16)
        + conv(16, 8, 4)
        + bn(8)
        + conv(8, c, 3)
    )
    assert (encoder, decoder) == (236_052, 247_985)  # the sums written out once, as a check on the above
    for seeds in (1, 3):
        enc, dec = pair("convnet", (c, w, w), seeds=seeds, d_z=d_z, opts={})
        assert count_parameters(enc) == encoder
        assert count_parameters(dec) == decoder
