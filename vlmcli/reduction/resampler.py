"""A learned Perceiver resampler whose weights come from a safetensors file.

The parameter-free `perceiver.resample` needs no training; when someone has trained a
resampler for a given encoder (Flamingo / Idefics2 style: learned latents cross-attend
over the visual tokens plus themselves, then a feed-forward, `depth` times), this module
runs it. Loading is strict: a missing, unexpected or wrongly-shaped tensor is a
`ModelError` that lists the offending names, never a silently half-initialised module.

This module imports torch at import time (it subclasses `torch.nn.Module`); import it
only where a learned resampler is actually requested.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from vlmcli.errors import ModelError, ModelNotFoundError


@dataclass(frozen=True)
class ResamplerConfig:
    """Shape of a learned resampler; must match the weights file.

    dim: token width D (the vision projector's output size).
    num_latents: M, output tokens per image/frame.
    depth: number of cross-attention + feed-forward blocks.
    heads: attention heads; must divide dim.
    ff_mult: feed-forward hidden size as a multiple of dim.
    """

    dim: int
    num_latents: int
    depth: int = 2
    heads: int = 8
    ff_mult: int = 4

    def __post_init__(self) -> None:
        if min(self.dim, self.num_latents, self.depth, self.heads, self.ff_mult) < 1:
            raise ValueError(f"every ResamplerConfig field must be >= 1: {self}")
        if self.dim % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")


class _Block(nn.Module):
    def __init__(self, cfg: ResamplerConfig) -> None:
        super().__init__()
        self.norm_latents = nn.LayerNorm(cfg.dim)
        self.norm_tokens = nn.LayerNorm(cfg.dim)
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(cfg.dim)
        hidden = cfg.ff_mult * cfg.dim
        self.ff = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(), nn.Linear(hidden, cfg.dim))

    def forward(self, latents: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        q = self.norm_latents(latents)  # (B, M, D)
        kv = torch.cat([self.norm_tokens(tokens), q], dim=1)  # (B, N+M, D)
        latents = latents + self.attn(q, kv, kv, need_weights=False)[0]  # (B, M, D)
        return latents + self.ff(self.norm_ff(latents))  # (B, M, D)


class PerceiverResampler(nn.Module):
    """Learned latents (M, D) cross-attending over (B, N, D) tokens -> (B, M, D)."""

    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.config = config
        self.latents = nn.Parameter(torch.randn(config.num_latents, config.dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(config.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) or (N, D) tokens -> (B, M, D) or (M, D)."""
        single = tokens.ndim == 2
        x = tokens.unsqueeze(0) if single else tokens  # (B, N, D)
        if x.ndim != 3 or x.shape[-1] != self.config.dim:
            raise ValueError(
                f"expected tokens (B, N, {self.config.dim}), got {tuple(tokens.shape)}"
            )
        latents = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)  # (B, M, D)
        for block in self.blocks:
            latents = block(latents, x)
        out = self.norm_out(latents)  # (B, M, D)
        return out[0] if single else out

    @classmethod
    def from_safetensors(
        cls, path: str | os.PathLike[str], *, config: ResamplerConfig, device: str = "cpu"
    ) -> "PerceiverResampler":
        """Build the module for `config` and load every tensor from `path`, strictly.

        Raises `ModelNotFoundError` if the file is missing and `ModelError` if it is not a
        safetensors file or its tensor names/shapes do not match `config`.
        """
        from safetensors.torch import load_file

        name = os.fspath(path)
        if not os.path.isfile(name):
            raise ModelNotFoundError(f"Resampler weights not found: {name}.")
        try:
            state = load_file(name, device=device)
        except Exception as exc:  # safetensors raises its own error types
            raise ModelError(f"Could not read resampler weights {name}: {exc}.") from exc
        module = cls(config)
        expected = module.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(
            f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
            for k, v in expected.items()
            if k in state and state[k].shape != v.shape
        )
        found = (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        problems = [
            f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
            for label, items in found
            if items
        ]
        if problems:
            raise ModelError(
                f"Resampler weights {name} do not match {config}: {'; '.join(problems)}."
            )
        module.load_state_dict(state, strict=True)
        return module.to(device).eval()
