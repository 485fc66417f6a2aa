"""Collate prepared requests into one left-padded batch.

Left padding keeps every row's last prompt token in the last column, so one decode step
appends a column for the whole batch; positions count only real tokens (see the adapter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmcli.engine.adapters.base import PreparedRequest

if TYPE_CHECKING:
    import torch


@dataclass
class PromptBatch:
    input_ids: "torch.Tensor"  # (B, L) long, left-padded with pad_id
    attention_mask: "torch.Tensor"  # (B, L) long, 0 on padding
    token_extras: dict[str, "torch.Tensor"]  # each (B, L), padded with 0
    lengths: list[int]
    """Real prompt length of each row."""


def left_pad(rows: "list[torch.Tensor]", *, value: int, length: int) -> "torch.Tensor":
    import torch

    out = torch.full((len(rows), length), value, dtype=rows[0].dtype)  # (B, L)
    for i, row in enumerate(rows):
        out[i, length - row.shape[0] :] = row
    return out


def collate(requests: list[PreparedRequest], *, pad_id: int) -> PromptBatch:
    import torch

    lengths = [int(r.input_ids.shape[0]) for r in requests]
    width = max(lengths)
    input_ids = left_pad([r.input_ids for r in requests], value=pad_id, length=width)  # (B, L)
    mask = left_pad([torch.ones_like(r.input_ids) for r in requests], value=0, length=width)  # (B, L)
    extras: dict[str, torch.Tensor] = {}
    for key in requests[0].token_extras:
        extras[key] = left_pad([r.token_extras[key] for r in requests], value=0, length=width)  # (B, L)
    return PromptBatch(input_ids=input_ids, attention_mask=mask, token_extras=extras, lengths=lengths)
