"""Rewriting a processor's expanded prompt when visual tokens are reduced.

The processor expands each placeholder (`<image>`, `<|video_pad|>` ...) into the tokens the
encoder's features fill. When `--temporal-pool` or `--compress` shrinks an item, the prompt
must hold exactly the reduced count. Rather than re-implement each processor's expansion,
we keep its output and splice: the processor reports, per placeholder, the replacement it
wrote (`return_text_replacement_offsets=True`); the adapter rewrites only the replacements
of reduced items and the text is tokenized again, exactly as the processor tokenizes it.
Pure string functions; no torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def splice(text: str, offsets: Sequence[dict[str, Any]], replacements: Sequence[str]) -> str:
    """`text` with the placeholder at each `offsets[i]["span"]` replaced by `replacements[i]`.

    offsets: the processor's `text_replacement_offsets` for this text, in order.
    """
    if len(offsets) != len(replacements):
        raise ValueError(f"{len(offsets)} placeholders but {len(replacements)} replacements")
    parts, last = [], 0
    for entry, new in zip(offsets, replacements):
        start, end = entry["span"]
        parts.append(text[last:start])
        parts.append(new)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def resize_runs(text: str, token: str, *, per_unit: int, new_per_unit: int) -> str:
    """Every run of `token` (k * per_unit long) becomes k * new_per_unit long.

    A run holds whole units: one tile of an Idefics3 image, one image of Qwen or LLaVA.
    """
    def shrink(match: re.Match[str]) -> str:
        n = len(match.group(0)) // len(token)
        if n % per_unit:
            raise ValueError(f"a run of {n} {token!r} is not a whole number of {per_unit}-token units")
        return token * (n // per_unit * new_per_unit)

    return re.sub(f"(?:{re.escape(token)})+", shrink, text)


def template_interleaves(processor: Any, image_token: str) -> bool:
    """Whether the chat template keeps text and images in the order given (Idefics3 does;
    LLaVA's templates put every image first)."""
    content = [{"type": "text", "text": "\x01A"}, {"type": "image"}, {"type": "text", "text": "\x01B"}]
    try:
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
    except Exception:  # a template that rejects the probe: assume the safe layout
        return False
    a, image, b = text.find("\x01A"), text.find(image_token), text.find("\x01B")
    return -1 < a < image < b
