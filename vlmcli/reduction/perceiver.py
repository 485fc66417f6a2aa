"""Parameter-free Perceiver-style resampling: N visual tokens -> M, no training needed.

A Perceiver resampler compresses a long token sequence into M latents that cross-attend
over it. Trained ones (Flamingo, Idefics2) need weights matched to the vision encoder;
this one has none, so it works with any model:

1. Initialise the M latents from the tokens themselves by adaptive average pooling along
   the sequence (or over the (h, w) patch grid when one is given, so each latent starts
   as a local region), or by taking evenly strided tokens (`init="stride"`).
2. Refine them `iters` times with scaled dot-product cross-attention, latents as queries
   and tokens as keys/values. Queries and keys are layer-normalised (no affine) so the
   softmax temperature does not depend on the embedding scale; values are the raw
   tokens, and the update is an averaged residual, latents = (latents + attended) / 2,
   which keeps the output on the scale of the input tokens the language model expects.

Each latent thus becomes a content-weighted mix of the tokens most similar to its region
rather than a blind average. `iters=0` is plain pooling; M >= N returns the input.
The learned variant with safetensors weights is `resampler.PerceiverResampler`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vlmcli.errors import ConfigError

if TYPE_CHECKING:
    import torch

INITS = ("pool", "stride")


def resample(
    tokens: "torch.Tensor",
    m: int,
    *,
    iters: int = 1,
    init: str = "pool",
    grid_hw: tuple[int, int] | None = None,
) -> "torch.Tensor":
    """Compress (..., N, D) tokens to (..., M, D) latents; leading dims are independent.

    m: number of output tokens; M = m when m <= N. When m > N there is nothing to
        compress and `tokens` is returned unchanged (so callers can ask for a fixed
        budget regardless of the encoder's resolution).
    iters: cross-attention refinements (0 = initialisation only).
    init: "pool" (adaptive average pooling) or "stride" (every (N/m)-th token).
    grid_hw: the (h, w) patch grid with h * w == N; makes "pool" pool 2-D regions over an
        (mh, mw) latent grid, mh * mw == m, chosen closest to the grid's aspect ratio.

    Deterministic; computed in float32 and returned in the input dtype.
    """
    import torch

    if tokens.ndim < 2:
        raise ValueError(f"expected tokens of shape (..., N, D), got {tuple(tokens.shape)}")
    if m < 1:
        raise ConfigError(f"the number of resampled tokens must be at least 1, got {m}.")
    if iters < 0:
        raise ConfigError(f"resampler iterations must be >= 0, got {iters}.")
    if init not in INITS:
        raise ConfigError(f"Unknown resampler init {init!r}; choose one of: {', '.join(INITS)}.")
    n, d = tokens.shape[-2], tokens.shape[-1]
    if grid_hw is not None and grid_hw[0] * grid_hw[1] != n:
        raise ValueError(f"grid {grid_hw} does not hold {n} tokens")
    if m > n:
        return tokens
    lead = tokens.shape[:-2]
    x = tokens.reshape(-1, n, d).float()  # (B, N, D)
    latents = _init_latents(x, m, init=init, grid_hw=grid_hw)  # (B, M, D)
    keys = torch.nn.functional.layer_norm(x, (d,))  # (B, N, D)
    for _ in range(iters):
        queries = torch.nn.functional.layer_norm(latents, (d,))  # (B, M, D)
        attended = torch.nn.functional.scaled_dot_product_attention(
            queries.unsqueeze(1), keys.unsqueeze(1), x.unsqueeze(1)
        ).squeeze(1)  # (B, M, D); softmax(q k^T / sqrt(D)) v over the N tokens
        latents = 0.5 * (latents + attended)  # averaged residual: stays on the token scale
    return latents.reshape(*lead, m, d).to(tokens.dtype)  # (..., M, D)


def latent_grid(grid_hw: tuple[int, int], m: int) -> tuple[int, int]:
    """(mh, mw) with mh * mw == m whose aspect ratio is closest to grid_hw's (log scale).

    Ties go to the taller grid. A prime m gives a 1 x m strip; prefer m = 64, 144, ...

    >>> latent_grid((24, 24), 64)
    (8, 8)
    """
    h, w = grid_hw
    target = math.log(h / w)
    pairs = [(a, m // a) for a in range(1, m + 1) if m % a == 0 and a <= h and m // a <= w]
    if not pairs:
        raise ConfigError(f"cannot lay {m} latents over a {h}x{w} token grid.")
    return min(pairs, key=lambda p: (abs(math.log(p[0] / p[1]) - target), -p[0]))


def _init_latents(
    x: "torch.Tensor", m: int, *, init: str, grid_hw: tuple[int, int] | None
) -> "torch.Tensor":
    """(B, N, D) tokens -> (B, M, D) starting latents."""
    import torch

    b, n, d = x.shape
    if init == "stride":
        idx = ((2 * torch.arange(m, device=x.device) + 1) * n) // (2 * m)  # (M,) segment centres
        return x[:, idx]
    if grid_hw is None:
        return torch.nn.functional.adaptive_avg_pool1d(x.transpose(1, 2), m).transpose(1, 2)
    h, w = grid_hw
    mh, mw = latent_grid(grid_hw, m)
    grid = x.transpose(1, 2).reshape(b, d, h, w)  # (B, D, h, w)
    pooled = torch.nn.functional.adaptive_avg_pool2d(grid, (mh, mw))  # (B, D, mh, mw)
    return pooled.reshape(b, d, m).transpose(1, 2)  # (B, M, D) raster order
