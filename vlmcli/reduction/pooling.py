"""Fewer visual tokens by averaging: across adjacent frames, and across 2x2 patches.

A 32-frame video at 576 tokens a frame is 18k tokens, more than many VLMs' context.
Neighbouring frames and neighbouring patches are largely redundant, so averaging them is
the cheapest reduction that keeps the token *space* unchanged (the language model sees
averages of embeddings it was trained on, not new vectors):

- `temporal_pool`: K adjacent frames -> 1 (fixed rate).
- `merge_similar`: consecutive near-duplicate frames -> 1 (content-adaptive), reporting
  which frames went into each output so timestamps and position ids can follow.
- `average_groups`: any groups planned ahead (the engine plans them before encoding, see
  `reduction.temporal`, so the prompt's placeholder count is known up front).
- `spatial_pool`: k x k patches of one frame's token grid -> 1 (`--compress pool:2`).

Every function returns the groups or grid it used (or has a helper that does), because
the caller must re-derive timestamps / positions for the reduced tokens.
torch is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vlmcli.errors import ConfigError

if TYPE_CHECKING:
    import torch

Groups = tuple[tuple[int, ...], ...]
"""For each output frame, the input frame indices it averages (consecutive, increasing)."""


def temporal_groups(num_frames: int, k: int) -> Groups:
    """The frames `temporal_pool` averages: (0..k-1), (k..2k-1), ...; the last may be shorter.

    >>> temporal_groups(5, 2)
    ((0, 1), (2, 3), (4,))
    """
    if k < 1:
        raise ConfigError(f"temporal pooling factor must be at least 1, got {k}.")
    return tuple(tuple(range(s, min(s + k, num_frames))) for s in range(0, num_frames, k))


def temporal_pool(frames_tokens: "torch.Tensor", k: int) -> "torch.Tensor":
    """Average every `k` adjacent frames: (T, N, D) -> (ceil(T / k), N, D).

    When T is not a multiple of k the last output averages only the T mod k frames that
    remain (no zero padding, no dropped frames), so it is exactly as bright as the others;
    `temporal_groups(T, k)` says which frames each output covers. k = 1 is the identity.
    """
    import torch

    _check_frames(frames_tokens)
    t = frames_tokens.shape[0]
    groups = temporal_groups(t, k)
    if k == 1:
        return frames_tokens
    x = frames_tokens.float()  # (T, N, D): average in fp32 even for bf16 inputs
    full = (t // k) * k
    parts = []
    if full:
        parts.append(x[:full].reshape(t // k, k, *x.shape[1:]).mean(dim=1))  # (T//k, N, D)
    if full < t:
        parts.append(x[full:].mean(dim=0, keepdim=True))  # (1, N, D)
    out = torch.cat(parts, dim=0)  # (ceil(T/k), N, D)
    assert out.shape[0] == len(groups)
    return out.to(frames_tokens.dtype)


def merge_similar(frames_tokens: "torch.Tensor", threshold: float) -> "tuple[torch.Tensor, Groups]":
    """Merge runs of near-identical consecutive frames: (T, N, D) -> (T', N, D), groups.

    Each frame is summarised by its mean token. A frame joins the current run when the
    cosine similarity of its summary to the summary of the run's *first* frame is at least
    `threshold` (comparing with the first, not the previous, frame stops a slow pan from
    chaining into one run). Each run becomes the average of its frames. `threshold` is in
    [-1, 1]; 1.0 merges only exact duplicates in direction, lower merges more.

    Returns the merged tokens and, per output frame, the input frame indices it averages.
    """
    import torch

    _check_frames(frames_tokens)
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(
            f"merge threshold must be a cosine similarity in [-1, 1], got {threshold}."
        )
    x = frames_tokens.float()  # (T, N, D)
    summary = torch.nn.functional.normalize(x.mean(dim=1), dim=-1)  # (T, D) unit vectors
    groups: list[list[int]] = []
    anchor = None
    for i in range(x.shape[0]):
        if anchor is not None and float(summary[i] @ summary[anchor]) >= threshold:
            groups[-1].append(i)
        else:
            groups.append([i])
            anchor = i
    out = torch.stack([x[g[0] : g[-1] + 1].mean(dim=0) for g in groups])  # (T', N, D)
    return out.to(frames_tokens.dtype), tuple(tuple(g) for g in groups)


def average_groups(frames_tokens: "torch.Tensor", groups: Groups) -> "torch.Tensor":
    """Average the frames of each group: (T, N, D) -> (len(groups), N, D), in fp32.

    `groups` are consecutive, increasing frame indices (as `temporal_groups` and
    `merge_similar` return them); planned ahead of time, e.g. by `reduction.temporal`.
    """
    import torch

    _check_frames(frames_tokens)
    x = frames_tokens.float()  # (T, N, D)
    out = torch.stack([x[g[0] : g[-1] + 1].mean(dim=0) for g in groups])  # (T', N, D)
    return out.to(frames_tokens.dtype)


def pooled_grid(grid_hw: tuple[int, int], k: int) -> tuple[int, int]:
    """Grid (h, w) after `spatial_pool` by k: each side rounded up (edge cells pool alone)."""
    h, w = grid_hw
    return math.ceil(h / k), math.ceil(w / k)


def spatial_pool(tokens: "torch.Tensor", grid_hw: tuple[int, int], *, k: int = 2) -> "torch.Tensor":
    """Average k x k neighbourhoods of a token grid: (..., h*w, D) -> (..., h'*w', D).

    tokens are in raster order (row by row) over a grid of `grid_hw` = (h, w) cells.
    (h', w') = `pooled_grid(grid_hw, k)`: an odd last row/column is averaged over the
    cells it has, not padded with zeros. Leading dimensions (frames, batch) are kept.
    """
    import torch

    h, w = grid_hw
    if k < 1:
        raise ConfigError(f"spatial pooling factor must be at least 1, got {k}.")
    if tokens.ndim < 2 or tokens.shape[-2] != h * w:
        raise ValueError(f"tokens {tuple(tokens.shape)} do not match a {h}x{w} grid")
    if k == 1:
        return tokens
    lead, d = tokens.shape[:-2], tokens.shape[-1]
    x = tokens.float().reshape(-1, h, w, d).permute(0, 3, 1, 2)  # (B, D, h, w)
    ph, pw = (-h) % k, (-w) % k
    ones = torch.ones(1, 1, h, w, dtype=x.dtype, device=x.device)
    x = torch.nn.functional.pad(x, (0, pw, 0, ph))  # (B, D, h+ph, w+pw), zeros at the edge
    count = torch.nn.functional.pad(ones, (0, pw, 0, ph))  # (1, 1, h+ph, w+pw) real cells
    total = torch.nn.functional.avg_pool2d(x, k) * k * k  # (B, D, h', w') sums
    cells = torch.nn.functional.avg_pool2d(count, k) * k * k  # (1, 1, h', w') real counts
    out = (total / cells).permute(0, 2, 3, 1)  # (B, h', w', D)
    hh, ww = pooled_grid(grid_hw, k)
    return out.reshape(*lead, hh * ww, d).to(tokens.dtype)  # (..., h'*w', D)


def spatial_pool_2x2(tokens: "torch.Tensor", grid_hw: tuple[int, int]) -> "torch.Tensor":
    """`spatial_pool` with k = 2: a 24x24 grid of 576 tokens becomes 12x12 = 144."""
    return spatial_pool(tokens, grid_hw, k=2)


def _check_frames(frames_tokens: "torch.Tensor") -> None:
    if frames_tokens.ndim != 3 or frames_tokens.shape[0] < 1:
        raise ValueError(
            "expected frame tokens of shape (T, N, D) with T >= 1, "
            f"got {tuple(frames_tokens.shape)}"
        )
