"""Choose the next token from logits: repetition penalty, temperature, top-k, top-p.

The order matches transformers' logits processors (penalty first, then temperature,
top-k, top-p), so a user moving between the two sees the same distributions. Each
request in a batch has its own `torch.Generator`, seeded from the user's seed, so a
request samples the same tokens whether it runs alone or in a batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.engine.config import GenerationConfig

if TYPE_CHECKING:
    import torch


def apply_repetition_penalty(
    logits: "torch.Tensor", seen: "torch.Tensor", seen_mask: "torch.Tensor", penalty: float
) -> "torch.Tensor":
    """CTRL-style penalty on tokens already seen: divide positive logits, multiply negative ones.

    logits: (B, V) float; seen: (B, S) token ids; seen_mask: (B, S) bool, False on padding.
    Padding slots are pointed at the row's last token (always real), so they repeat a real
    id instead of penalising the pad token; gather/scatter of a repeated id is idempotent.
    """
    import torch

    if penalty == 1.0:
        return logits
    ids = torch.where(seen_mask, seen, seen[:, -1:])  # (B, S)
    score = torch.gather(logits, 1, ids)  # (B, S)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(1, ids, score)


def warp(logits: "torch.Tensor", gen: GenerationConfig) -> "torch.Tensor":
    """Temperature, top-k and top-p applied to (B, V) logits; removed tokens get -inf."""
    import torch

    logits = logits / gen.temperature
    if gen.top_k > 0:
        k = min(gen.top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if gen.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)  # (B, V)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (B, V)
        remove_sorted = cumulative - sorted_logits.softmax(dim=-1) >= gen.top_p  # keep the token that crosses
        remove = remove_sorted.scatter(1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def choose_next(
    logits: "torch.Tensor", gen: GenerationConfig, generators: "list[torch.Generator] | None"
) -> "torch.Tensor":
    """Next token per row of (B, V) float32 logits (already penalised) -> (B,) long."""
    import torch

    if gen.greedy:
        return torch.argmax(logits, dim=-1)
    probs = warp(logits, gen).softmax(dim=-1)  # (B, V)
    assert generators is not None and len(generators) == probs.shape[0]
    picks = [torch.multinomial(row.cpu(), 1, generator=g) for row, g in zip(probs, generators)]
    return torch.cat(picks).to(logits.device)


def make_generators(batch_size: int, seed: int | None) -> "list[torch.Generator]":
    """One CPU generator per request; a fixed seed makes every request reproducible."""
    import torch

    gens = []
    for _ in range(batch_size):
        g = torch.Generator(device="cpu")
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        gens.append(g)
    return gens
