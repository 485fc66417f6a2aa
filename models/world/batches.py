"""Examples -> training tensors through the real processor and chat template.

The prompt is exactly what vlmcli's engine sends (one user turn: the image or video, then
the question; `add_generation_prompt=True`), followed by the answer and `<|im_end|>`.
Labels are -100 everywhere except the answer tokens and `<|im_end|>`, so the loss is on
the answer only and the model learns to stop. Clips go through the processor's video path
(`videos=`, `do_sample_frames=False`) with the frames the caller chose, as the engine does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.world.examples import Example
from vlmcli.engine.adapters.qwen_video import without_outer_video_pair
from vlmcli.engine.video_input import VideoInput

IGNORE = -100


@dataclass(frozen=True, eq=False)
class Encoded:
    """One example ready to batch.

    input_ids / labels / mm_token_type_ids: (L,) int64.
    visual: the processor's pixel tensors for this example (pixel_values + image_grid_thw,
        or pixel_values_videos + video_grid_thw).
    task: for per-task accounting.
    answer: the gold answer text (the auxiliary classifier's target in training).
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm_token_type_ids: torch.Tensor
    visual: dict[str, torch.Tensor]
    task: str
    answer: str = ""

    def __post_init__(self) -> None:
        n = self.input_ids.shape[0]
        if self.labels.shape != (n,) or self.mm_token_type_ids.shape != (n,):
            raise ValueError("input_ids, labels and mm_token_type_ids must all be (L,)")


def prompt_text(processor, *, question: str, video: bool) -> str:
    """The chat-template prompt the engine builds for one image (or video) and a question.

    For a clip, the template's `<|vision_start|><|video_pad|><|vision_end|>` becomes a bare video
    token, as the engine's Qwen3-VL adapter writes it (`without_outer_video_pair`), so the
    processor gives Qwen3-VL's layout (per-frame blocks, no outer pair) in every transformers.
    """
    content = [{"type": "video" if video else "image"}, {"type": "text", "text": question}]
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
    return without_outer_video_pair(text, processor) if video else text


def clip_input(example: Example, indices: tuple[int, ...]) -> VideoInput:
    """The chosen frames of a clip as the engine's `VideoInput` (real times and indices)."""
    assert example.frames is not None
    return VideoInput(
        frames=example.frames[list(indices)],  # (n, H, W, 3)
        timestamps=[i / example.fps for i in indices],
        fps=example.fps,
        indices=indices,
        duration_s=example.frames.shape[0] / example.fps,
        source=example.task,
    )


def encode(processor, example: Example, *, frame_indices: tuple[int, ...] | None = None) -> Encoded:
    """Run one example through the processor; `frame_indices` picks a clip's frames."""
    text = prompt_text(processor, question=example.question, video=example.is_video)
    if example.is_video:
        if frame_indices is None:
            raise ValueError("a clip needs frame_indices")
        clip = clip_input(example, frame_indices)
        out = processor(
            text=[text], videos=[clip.frames], video_metadata=[clip.metadata()], do_sample_frames=False,
            return_tensors="pt",
        )
        visual = {"pixel_values_videos": out["pixel_values_videos"], "video_grid_thw": out["video_grid_thw"]}
    else:
        out = processor(text=[text], images=[[example.image]], return_tensors="pt")
        visual = {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}
    prompt_ids = out["input_ids"][0]  # (P,)
    answer_ids = processor.tokenizer(example.answer + processor.tokenizer.eos_token, add_special_tokens=False, return_tensors="pt")["input_ids"][0]  # (A,)
    input_ids = torch.cat([prompt_ids, answer_ids])  # (P + A,)
    labels = torch.cat([torch.full_like(prompt_ids, IGNORE), answer_ids])  # (P + A,)
    types = torch.cat([out["mm_token_type_ids"][0], torch.zeros_like(answer_ids)])  # (P + A,)
    return Encoded(input_ids=input_ids, labels=labels, mm_token_type_ids=types, visual=visual, task=example.task, answer=example.answer)


def collate(items: list[Encoded], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch for `Qwen3VLForConditionalGeneration.forward` (labels included)."""
    length = max(e.input_ids.shape[0] for e in items)
    b = len(items)
    input_ids = torch.full((b, length), pad_id, dtype=torch.long)  # (B, L)
    labels = torch.full((b, length), IGNORE, dtype=torch.long)  # (B, L)
    types = torch.zeros((b, length), dtype=torch.long)  # (B, L)
    mask = torch.zeros((b, length), dtype=torch.long)  # (B, L)
    for row, e in enumerate(items):
        n = e.input_ids.shape[0]
        input_ids[row, :n], labels[row, :n], types[row, :n], mask[row, :n] = e.input_ids, e.labels, e.mm_token_type_ids, 1
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "mm_token_type_ids": types}
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        parts = [e.visual[key] for e in items if key in e.visual]
        if parts:
            batch[key] = torch.cat(parts)  # images / clips in row order, as the placeholders
    return batch


def answer_hits(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """(B,) bool: every answer token (and `<|im_end|>`) is the argmax given the gold prefix,
    which is exactly "greedy decoding returns the answer and stops".

    logits: (B, L, V) from the forward pass; labels: (B, L) with IGNORE off the answer.
    """
    predicted = logits[:, :-1].argmax(-1)  # (B, L-1) prediction for position t+1
    target = labels[:, 1:]  # (B, L-1)
    scored = target != IGNORE
    wrong = (predicted != target) & scored  # (B, L-1)
    return (~wrong.any(dim=1)).numpy()
