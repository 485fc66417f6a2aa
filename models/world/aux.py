"""An auxiliary answer classifier on the vision tower's merged tokens, used only in training.

Why: the answer loss reaches the vision tower only through the decoder's attention, which
early on carries little more than each token's mean colour; in our runs the colour tasks
were learned in 200 steps while words, counts and the small dot stayed at chance for
1000+. A linear classifier on mean- and max-pooled merged visual tokens gives the tower a
direct gradient toward features that tell the answers apart. The head is dropped when
the model is saved: the checkpoint is a plain Qwen3-VL and the engine never sees it.

Only image tasks whose answer is a property of the whole picture take part ("the left
one" and the clip tasks need positions or order that pooling loses).
"""

from __future__ import annotations

import torch
from torch import nn

from models.world.vocab import answer_space

AUX_TASKS = ("color", "size", "count", "left", "word", "detail")


def aux_classes() -> tuple[str, ...]:
    """Every answer of the auxiliary tasks, once, in a fixed order."""
    seen: dict[str, None] = {}
    for task in AUX_TASKS:
        seen.update(dict.fromkeys(answer_space(task)))
    return tuple(seen)


class AuxHead(nn.Module):
    """Pooled merged visual tokens -> answer logits; attach with `watch(model)`."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.classes = aux_classes()
        self.index = {a: i for i, a in enumerate(self.classes)}
        self.proj = nn.Linear(2 * hidden, len(self.classes))
        self._captured: list[torch.Tensor] = []

    def watch(self, model) -> None:
        """Record every output of the vision merger (images first, then clips, per forward)."""
        model.model.visual.merger.register_forward_hook(lambda _m, _i, out: self._captured.append(out))

    def clear(self) -> None:
        self._captured.clear()

    def loss(self, items, batch: dict[str, torch.Tensor], *, merge: int) -> torch.Tensor | None:
        """Mean cross-entropy over the image items of `items` in AUX_TASKS (None if none)."""
        if "pixel_values" not in batch or not self._captured:
            return None
        merged = self._captured[0]  # (N, D) every image's merged tokens, in row order
        counts = (batch["image_grid_thw"].prod(-1) // (merge * merge)).tolist()
        pooled, targets = [], []
        for item, tokens in zip([e for e in items if "pixel_values" in e.visual], merged.split(counts)):
            if item.task in AUX_TASKS:
                pooled.append(torch.cat([tokens.mean(0), tokens.amax(0)]))  # (2D,)
                targets.append(self.index[item.answer])
        if not pooled:
            return None
        logits = self.proj(torch.stack(pooled))  # (B', C)
        return nn.functional.cross_entropy(logits, torch.tensor(targets))
