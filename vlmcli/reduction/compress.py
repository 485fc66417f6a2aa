"""`--compress SPEC`: parse it once, then one compressor object per method, from a registry.

Grammar (case-insensitive):

    none                 keep every visual token
    pool[:K]             average K x K patches of each frame's token grid (K >= 2, default 2)
    perceiver:M[:ITERS]  parameter-free Perceiver resampling to M tokens (ITERS >= 0, default 1)

Every compressor answers `num_tokens` without touching tensors, so the token budget
(and the prompt's placeholder count) is known before the vision encoder runs, and `apply`
returns exactly that many tokens. `unchanged_reason` says, also without tensors, when a
spec leaves a unit's tokens as they are (`perceiver:32` on 12-token frames), so the user
can be told once instead of believing the tokens were cut. Parsing imports no torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from vlmcli.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEFAULT_POOL = 2
DEFAULT_ITERS = 1


class CompressMethod(str, Enum):
    NONE = "none"
    POOL = "pool"
    PERCEIVER = "perceiver"


@dataclass(frozen=True)
class CompressSpec:
    """A parsed `--compress` value.

    method: which compressor.
    amount: pool: the factor K (>= 2); perceiver: the token count M (>= 1); none: 0.
    iters: perceiver refinement steps (>= 0); 0 for the other methods.
    """

    method: CompressMethod
    amount: int = 0
    iters: int = 0

    def __post_init__(self) -> None:
        if self.method is CompressMethod.NONE and (self.amount or self.iters):
            raise ConfigError("--compress none takes no arguments.")
        if self.method is CompressMethod.POOL and (self.amount < 2 or self.iters):
            raise ConfigError(f"--compress pool:K needs an integer K >= 2, got {self.amount}.")
        if self.method is CompressMethod.PERCEIVER and (self.amount < 1 or self.iters < 0):
            raise ConfigError(
                f"--compress perceiver:M[:ITERS] needs M >= 1 and ITERS >= 0, "
                f"got M={self.amount}, ITERS={self.iters}."
            )

    def __str__(self) -> str:
        if self.method is CompressMethod.NONE:
            return "none"
        if self.method is CompressMethod.POOL:
            return f"pool:{self.amount}"
        return f"perceiver:{self.amount}:{self.iters}"

    @property
    def flag_text(self) -> str:
        """The shortest `--compress` value that parses to this spec (for messages)."""
        if self.method is CompressMethod.PERCEIVER and self.iters == DEFAULT_ITERS:
            return f"perceiver:{self.amount}"
        return str(self)


def parse_compress(text: str) -> CompressSpec:
    """"perceiver:64" -> CompressSpec(PERCEIVER, 64, 1); "pool:2"; "none". Else `ConfigError`."""
    parts = [p.strip() for p in str(text).strip().lower().split(":")]
    choices = "none, pool[:K], perceiver:M[:ITERS]"
    try:
        method = CompressMethod(parts[0])
    except ValueError:
        raise ConfigError(
            f"Unknown --compress method {parts[0]!r}; use one of: {choices}."
        ) from None
    try:
        numbers = [int(p) for p in parts[1:]]
    except ValueError:
        raise ConfigError(f"--compress {text!r}: the numbers after ':' must be integers.") from None
    most = {CompressMethod.NONE: 0, CompressMethod.POOL: 1, CompressMethod.PERCEIVER: 2}[method]
    if len(numbers) > most:
        raise ConfigError(f"--compress {text!r} has too many ':' parts; expected {choices}.")
    if method is CompressMethod.NONE:
        return CompressSpec(method)
    if method is CompressMethod.POOL:
        return CompressSpec(method, amount=numbers[0] if numbers else DEFAULT_POOL)
    if not numbers:
        raise ConfigError("--compress perceiver needs a token count, e.g. perceiver:64.")
    iters = numbers[1] if len(numbers) > 1 else DEFAULT_ITERS
    return CompressSpec(method, amount=numbers[0], iters=iters)


class TokenCompressor(ABC):
    """Reduces one image's / frame's tokens (..., N, D) laid out on a (h, w) grid."""

    def __init__(self, spec: CompressSpec) -> None:
        self.spec = spec

    @abstractmethod
    def num_tokens(self, *, n: int, grid_hw: tuple[int, int]) -> int:
        """Tokens per frame after `apply`, for N = h * w tokens on `grid_hw`."""

    @abstractmethod
    def apply(self, tokens: "torch.Tensor", *, grid_hw: tuple[int, int]) -> "torch.Tensor":
        """(..., N, D) -> (..., num_tokens(n=N, grid_hw=grid_hw), D)."""

    def unchanged_reason(self, *, n: int, grid_hw: tuple[int, int]) -> str | None:
        """Why this spec keeps all N tokens of a unit on `grid_hw` (a clause), or None if it reduces them."""
        return None


class NoCompression(TokenCompressor):
    def num_tokens(self, *, n: int, grid_hw: tuple[int, int]) -> int:
        return n

    def apply(self, tokens: "torch.Tensor", *, grid_hw: tuple[int, int]) -> "torch.Tensor":
        return tokens


class PoolCompression(TokenCompressor):
    def __init__(self, spec: CompressSpec) -> None:
        super().__init__(spec)
        self.k = spec.amount

    def num_tokens(self, *, n: int, grid_hw: tuple[int, int]) -> int:
        from vlmcli.reduction.pooling import pooled_grid

        h, w = pooled_grid(grid_hw, self.k)
        return h * w

    def unchanged_reason(self, *, n: int, grid_hw: tuple[int, int]) -> str | None:
        if self.num_tokens(n=n, grid_hw=grid_hw) < n:
            return None
        return f"a {grid_hw[0]}x{grid_hw[1]} grid of visual tokens has no {self.k}x{self.k} blocks to average"

    def apply(self, tokens: "torch.Tensor", *, grid_hw: tuple[int, int]) -> "torch.Tensor":
        from vlmcli.reduction.pooling import spatial_pool

        return spatial_pool(tokens, grid_hw, k=self.k)


class PerceiverCompression(TokenCompressor):
    def __init__(self, spec: CompressSpec) -> None:
        super().__init__(spec)
        self.m, self.iters = spec.amount, spec.iters

    def num_tokens(self, *, n: int, grid_hw: tuple[int, int]) -> int:
        return min(n, self.m)

    def unchanged_reason(self, *, n: int, grid_hw: tuple[int, int]) -> str | None:
        if n > self.m:
            return None
        return f"{n} visual tokens per image tile or frame are not more than {self.m}"

    def apply(self, tokens: "torch.Tensor", *, grid_hw: tuple[int, int]) -> "torch.Tensor":
        from vlmcli.reduction.perceiver import latent_grid, resample

        m = self.m
        if m >= tokens.shape[-2]:  # nothing to compress: the tokens as they are, at no cost
            return tokens
        try:
            latent_grid(grid_hw, m)
            grid: tuple[int, int] | None = grid_hw
        except ConfigError:  # m has no factor pair fitting the grid: pool the raster sequence
            grid = None
        return resample(tokens, m, iters=self.iters, grid_hw=grid)


_COMPRESSORS: dict[CompressMethod, type[TokenCompressor]] = {
    CompressMethod.NONE: NoCompression,
    CompressMethod.POOL: PoolCompression,
    CompressMethod.PERCEIVER: PerceiverCompression,
}


def get_compressor(spec: CompressSpec | str) -> TokenCompressor:
    """The compressor for a spec (or spec text)."""
    spec = parse_compress(spec) if isinstance(spec, str) else spec
    return _COMPRESSORS[spec.method](spec)
