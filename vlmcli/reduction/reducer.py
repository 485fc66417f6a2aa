"""Fewer visual tokens before the language model: temporal pooling, then compression.

Both act on one visual item's encoder output (an image, or a clip), described by a
`TokenLayout`: `units` temporal units (frames, Qwen temporal patches, or image tiles),
each `per_unit` tokens in raster order on a `grid`, then `tail` tokens kept as they are
(LLaVA-OneVision's newline after a clip). The `Reducer`

1. averages the units of each temporal group (`--temporal-pool`, groups planned up front by
   `vlmcli.reduction.temporal`), then
2. compresses every unit with `--compress` (`pool:K` on the grid, `perceiver:M`
   parameter-free, or a learned Perceiver resampler from `--resampler-weights`).

Every count is known before the encoder runs (`count`, `unit_grid`), so the adapter can
write the prompt with exactly as many placeholders as the reduced features fill, and Qwen's
MRoPE can give the reduced tokens a consistent (t, h, w) grid. A `--compress` that leaves
every item's tokens as they are is noticed while counting (`notes`; the library never
prints, the engine hands the notes to the caller with each result). The feature cache holds the
encoder's own output; reductions are applied after it, so changing them re-uses the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmcli.errors import ConfigError, ModelError, ModelNotFoundError
from vlmcli.reduction.compress import CompressMethod, CompressSpec, get_compressor
from vlmcli.reduction.pooling import Groups, pooled_grid
from vlmcli.reduction.temporal import TemporalPoolSpec

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TokenReduction:
    """What to reduce (`--temporal-pool`, `--compress`, `--resampler-weights`); all off by default."""

    temporal: TemporalPoolSpec = field(default_factory=TemporalPoolSpec)
    compress: CompressSpec = field(default_factory=lambda: CompressSpec(CompressMethod.NONE))
    resampler_weights: Path | None = None
    """safetensors of a trained `reduction.resampler.PerceiverResampler`; needs --compress perceiver:M."""

    def __post_init__(self) -> None:
        if self.resampler_weights is not None and self.compress.method is not CompressMethod.PERCEIVER:
            raise ConfigError("--resampler-weights needs --compress perceiver:M (M = the resampler's latents).")

    @property
    def active(self) -> bool:
        return self.temporal.active or self.compress.method is not CompressMethod.NONE

    def __str__(self) -> str:
        learned = f" weights={self.resampler_weights}" if self.resampler_weights else ""
        return f"temporal={self.temporal} compress={self.compress}{learned}"


@dataclass(frozen=True)
class TokenLayout:
    """How one visual item's encoder tokens are laid out.

    units: temporal units (frames / temporal patches / tiles), each `per_unit` tokens.
    per_unit: tokens of one unit, in raster order on `grid`.
    grid: (h, w) with h * w == per_unit, or None when the tokens have no 2-D layout
        (LLaVA-NeXT/OneVision images pack tiles with newline tokens).
    tail: tokens after the units, kept unchanged.
    groups: units averaged into each output unit; None keeps every unit.
    """

    units: int
    per_unit: int
    grid: tuple[int, int] | None = None
    tail: int = 0
    groups: Groups | None = None

    def __post_init__(self) -> None:
        if self.units < 1 or self.per_unit < 1 or self.tail < 0:
            raise ValueError(f"bad token layout {self}")
        if self.grid is not None and self.grid[0] * self.grid[1] != self.per_unit:
            raise ValueError(f"grid {self.grid} does not hold {self.per_unit} tokens")
        if self.groups is not None and sorted(i for g in self.groups for i in g) != list(range(self.units)):
            raise ValueError(f"groups {self.groups} do not cover {self.units} units once each")

    @property
    def encoder_tokens(self) -> int:
        return self.units * self.per_unit + self.tail

    @property
    def out_units(self) -> int:
        return len(self.groups) if self.groups is not None else self.units


def read_resampler_config(path: Path, *, num_latents: int) -> Any:
    """The `ResamplerConfig` a weights file was saved with (shapes, plus `heads` metadata)."""
    from safetensors import safe_open

    from vlmcli.reduction.resampler import ResamplerConfig

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ModelNotFoundError(f"Resampler weights not found: {name}.")
    try:
        with safe_open(name, framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own types
        raise ModelError(f"Could not read resampler weights {name}: {exc}.") from exc
    if "latents" not in shapes:
        raise ModelError(f"{name} is not a Perceiver resampler (no 'latents' tensor).")
    m, dim = shapes["latents"]
    if m != num_latents:
        raise ConfigError(f"{name} has {m} latents; use --compress perceiver:{m}.")
    depth = len({k.split(".")[1] for k in shapes if k.startswith("blocks.")})
    hidden = shapes.get("blocks.0.ff.0.weight", (4 * dim, dim))[0]
    return ResamplerConfig(
        dim=dim, num_latents=m, depth=max(depth, 1), heads=int(meta.get("heads", 8)), ff_mult=max(hidden // dim, 1)
    )


class Reducer:
    """Applies a `TokenReduction` to per-item features; counts come without any tensors."""

    def __init__(self, reduction: TokenReduction) -> None:
        self.reduction = reduction
        self.spec = reduction.compress
        self.compressor = get_compressor(self.spec)
        self._unchanged: str | None = None  # why the first item that kept all its tokens kept them
        self._changed = False  # whether --compress reduced any item counted so far
        self._learned: Any = None
        if reduction.resampler_weights is not None:  # fail at load, not mid-run
            self._learned_config = read_resampler_config(reduction.resampler_weights, num_latents=self.spec.amount)

    # -- counts ---------------------------------------------------------------
    def _grid(self, layout: TokenLayout) -> tuple[int, int]:
        if layout.grid is not None:
            return layout.grid
        if self.spec.method is CompressMethod.POOL:
            raise ConfigError(
                f"--compress {self.spec} needs visual tokens on a grid, but this model packs them "
                "(tiles with newline tokens); use --compress perceiver:M."
            )
        return (1, layout.per_unit)  # a strip: 1-D pooling for the Perceiver's initial latents

    def unit_tokens(self, layout: TokenLayout) -> int:
        """Tokens of one unit after compression."""
        if self.reduction.resampler_weights is not None:
            return self.spec.amount
        return self.compressor.num_tokens(n=layout.per_unit, grid_hw=self._grid(layout))

    def unit_grid(self, layout: TokenLayout) -> tuple[int, int]:
        """(h, w) a compressed unit's tokens are treated as (for 3-D positions)."""
        from vlmcli.reduction.perceiver import latent_grid

        grid = self._grid(layout)
        if self.spec.method is CompressMethod.POOL:
            return pooled_grid(grid, self.spec.amount)
        n = self.unit_tokens(layout)
        if n == layout.per_unit:
            return grid
        try:
            return latent_grid(grid, n)
        except ConfigError:  # no factor pair fits the grid: the latents form a 1 x M strip
            return (1, n)

    def count(self, layout: TokenLayout) -> int:
        """Tokens the item occupies in the prompt after reduction (noting a compression that changes nothing)."""
        self._note_unchanged(layout)
        return layout.out_units * self.unit_tokens(layout) + layout.tail

    @property
    def notes(self) -> tuple[str, ...]:
        """One notice (always the same words) when `--compress` has left every item counted so far as it was."""
        if self._changed or self._unchanged is None:
            return ()
        return (f"note: --compress {self.spec.flag_text} changes nothing: {self._unchanged}.",)

    def _note_unchanged(self, layout: TokenLayout) -> None:
        if self.spec.method is CompressMethod.NONE or self.reduction.resampler_weights is not None:
            return
        if self.spec.method is CompressMethod.POOL and layout.grid is None:
            return  # `_grid` raises the clear ConfigError for this
        reason = self.compressor.unchanged_reason(n=layout.per_unit, grid_hw=self._grid(layout))
        if reason is None:
            self._changed = True
        elif self._unchanged is None:
            self._unchanged = reason

    # -- tensors --------------------------------------------------------------
    def apply(self, features: "dict[str, torch.Tensor]", layout: TokenLayout) -> "dict[str, torch.Tensor]":
        """Each (encoder_tokens, D) tensor of one item's features (named as in `engine.cache`) ->
        (count(layout), D); the input is returned if nothing changes."""
        if layout.groups is None and self.spec.method is CompressMethod.NONE:
            return features
        return {name: self._apply_one(x, layout) for name, x in features.items()}

    def _apply_one(self, x: "torch.Tensor", layout: TokenLayout) -> "torch.Tensor":
        import torch

        from vlmcli.reduction.pooling import average_groups

        if x.shape[0] != layout.encoder_tokens:
            raise ValueError(f"features have {x.shape[0]} tokens, layout expects {layout.encoder_tokens}")
        d = x.shape[-1]
        split = layout.units * layout.per_unit
        body = x[:split].reshape(layout.units, layout.per_unit, d)  # (U, P, D)
        if layout.groups is not None:
            body = average_groups(body, layout.groups)  # (U', P, D)
        if self.reduction.resampler_weights is not None:
            body = self._learned_apply(body)  # (U', M, D)
        else:
            body = self.compressor.apply(body, grid_hw=self._grid(layout))  # (U', P', D)
        return torch.cat([body.reshape(-1, d), x[split:]], dim=0)  # (N', D)

    def _learned_apply(self, body: "torch.Tensor") -> "torch.Tensor":
        if self._learned is None:
            from vlmcli.reduction.resampler import PerceiverResampler

            self._learned = PerceiverResampler.from_safetensors(
                self.reduction.resampler_weights, config=self._learned_config
            )
        if body.shape[-1] != self._learned.config.dim:
            raise ModelError(
                f"Resampler weights are for {self._learned.config.dim}-wide tokens, "
                f"but this model's visual tokens are {body.shape[-1]} wide."
            )
        module = self._learned.to(body.device)
        return module(body.float()).to(body.dtype)  # (U', M, D)
