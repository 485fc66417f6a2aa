"""Parameter-free Perceiver resampling, the learned resampler's loading, and --compress specs."""

from __future__ import annotations

import pytest
import torch

from vlmcli.errors import ConfigError, ModelError, ModelNotFoundError
from vlmcli.reduction.compress import CompressMethod, CompressSpec, get_compressor, parse_compress
from vlmcli.reduction.perceiver import latent_grid, resample


def tokens(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- resample -------------------------------------------------------------------------


@pytest.mark.parametrize("iters", [0, 1, 2])
def test_resample_shapes(iters):
    x = tokens(576, 32)
    assert resample(x, 64, iters=iters).shape == (64, 32)
    assert resample(x, 64, iters=iters, grid_hw=(24, 24)).shape == (64, 32)
    assert resample(tokens(4, 100, 32), 10, iters=iters).shape == (4, 10, 32)  # per frame


def test_resample_with_m_equal_n_and_no_iterations_is_identity():
    x = tokens(49, 16)
    torch.testing.assert_close(resample(x, 49, iters=0), x)
    torch.testing.assert_close(resample(x, 49, iters=0, grid_hw=(7, 7)), x)
    torch.testing.assert_close(resample(x, 49, iters=0, init="stride"), x)


def test_resample_more_latents_than_tokens_returns_input():
    x = tokens(10, 8)
    assert resample(x, 64) is x


def test_resample_init_is_pooling():
    x = tokens(8, 4)
    pooled = resample(x, 2, iters=0)
    torch.testing.assert_close(pooled, torch.stack([x[:4].mean(0), x[4:].mean(0)]))
    grid = resample(tokens(16, 4), 4, iters=0, grid_hw=(4, 4))  # 2x2 latents over 4x4 cells
    cells = tokens(16, 4).reshape(4, 4, 4)
    torch.testing.assert_close(grid[0], cells[:2, :2].reshape(4, 4).mean(0))


def test_resample_attention_moves_latents_toward_similar_tokens():
    # two clusters; one pooled latent straddles both and attention pulls it to one side
    a = torch.tensor([10.0, 0.0, 0.0, 0.0])
    b = torch.tensor([0.0, 10.0, 0.0, 0.0])
    x = torch.stack([a] * 3 + [b] * 1)  # (4, 4)
    z0 = resample(x, 1, iters=0)[0]
    z2 = resample(x, 1, iters=2)[0]
    assert z2[0] > z0[0]  # toward the majority cluster a
    assert torch.all(z2.abs() <= 10.0 + 1e-5)  # stays within the tokens' range


def test_resample_is_deterministic_and_keeps_dtype():
    x = tokens(3, 64, 16).to(torch.bfloat16)
    out = resample(x, 8, iters=2, grid_hw=(8, 8))
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, resample(x, 8, iters=2, grid_hw=(8, 8)))


def test_resample_validates():
    x = tokens(16, 4)
    with pytest.raises(ConfigError):
        resample(x, 0)
    with pytest.raises(ConfigError):
        resample(x, 4, iters=-1)
    with pytest.raises(ConfigError):
        resample(x, 4, init="random")
    with pytest.raises(ValueError):
        resample(x, 4, grid_hw=(3, 3))


def test_latent_grid():
    assert latent_grid((24, 24), 64) == (8, 8)
    assert latent_grid((16, 32), 32) == (4, 8)
    assert latent_grid((24, 24), 12) == (4, 3)  # ties go to the taller grid
    with pytest.raises(ConfigError):
        latent_grid((4, 4), 17)


# --- compress specs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,spec",
    [
        ("perceiver:64", CompressSpec(CompressMethod.PERCEIVER, 64, 1)),
        ("Perceiver:64:2", CompressSpec(CompressMethod.PERCEIVER, 64, 2)),
        ("pool:2", CompressSpec(CompressMethod.POOL, 2)),
        ("pool", CompressSpec(CompressMethod.POOL, 2)),
        ("pool:3", CompressSpec(CompressMethod.POOL, 3)),
        ("none", CompressSpec(CompressMethod.NONE)),
    ],
)
def test_parse_compress(text, spec):
    assert parse_compress(text) == spec
    assert parse_compress(str(spec)) == spec  # round trip


@pytest.mark.parametrize(
    "text",
    ["", "zip:2", "pool:1", "pool:x", "pool:2:3", "perceiver", "perceiver:0", "perceiver:8:-1",
     "none:3", "perceiver:8:1:1"],
)
def test_bad_compress_specs(text):
    with pytest.raises(ConfigError):
        parse_compress(text)


@pytest.mark.parametrize("text", ["none", "pool:2", "pool:3", "perceiver:64", "perceiver:17:0"])
def test_compressor_token_count_matches_output(text):
    comp = get_compressor(text)
    x = tokens(2, 24 * 20, 8)  # two frames of a 24x20 grid
    out = comp.apply(x, grid_hw=(24, 20))
    assert out.shape == (2, comp.num_tokens(n=480, grid_hw=(24, 20)), 8)


# --- learned resampler ----------------------------------------------------------------


def test_learned_resampler_round_trips_through_safetensors(tmp_path):
    from safetensors.torch import save_file

    from vlmcli.reduction.resampler import PerceiverResampler, ResamplerConfig

    cfg = ResamplerConfig(dim=16, num_latents=4, depth=1, heads=2, ff_mult=2)
    torch.manual_seed(0)
    original = PerceiverResampler(cfg).eval()
    path = tmp_path / "resampler.safetensors"
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(path))
    loaded = PerceiverResampler.from_safetensors(path, config=cfg)
    x = tokens(2, 30, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), original(x))
        assert loaded(x[0]).shape == (4, 16)


def test_learned_resampler_reports_mismatched_weights(tmp_path):
    from safetensors.torch import save_file

    from vlmcli.reduction.resampler import PerceiverResampler, ResamplerConfig

    cfg = ResamplerConfig(dim=16, num_latents=4, depth=1, heads=2, ff_mult=2)
    state = {k: v.contiguous() for k, v in PerceiverResampler(cfg).state_dict().items()}
    partial = dict(state)
    del partial["norm_out.weight"]
    partial["extra.bias"] = torch.zeros(3)
    save_file(partial, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ModelError, match=r"missing: norm_out\.weight; unexpected: extra\.bias"):
        PerceiverResampler.from_safetensors(tmp_path / "partial.safetensors", config=cfg)
    with pytest.raises(ModelError, match="wrong shape: latents"):
        bigger = ResamplerConfig(dim=16, num_latents=8, depth=1, heads=2, ff_mult=2)
        save_file(state, str(tmp_path / "w.safetensors"))
        PerceiverResampler.from_safetensors(tmp_path / "w.safetensors", config=bigger)
    with pytest.raises(ModelNotFoundError):
        PerceiverResampler.from_safetensors(tmp_path / "nope.safetensors", config=cfg)
    (tmp_path / "junk.safetensors").write_text("not tensors")
    with pytest.raises(ModelError, match="Could not read"):
        PerceiverResampler.from_safetensors(tmp_path / "junk.safetensors", config=cfg)
