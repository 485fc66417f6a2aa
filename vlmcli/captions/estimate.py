"""How long a caption run will take, from rates measured on one real batch (pure: no I/O).

Why not "seconds per image x images": an engine call has parts that scale differently.
The vision tower costs about the same per visual token whatever the batch; the prefill
costs per prompt token of the padded batch (requests x longest prompt); a decode step
costs about the same for 1 or 8 requests (on a real-size model it is bound by reading the
weights, so batching makes answers nearly free); preprocessing (resizing from the source)
costs per source pixel; and reading and decoding the files runs in background threads
beside the model. A per-request time measured on one image alone and multiplied by the
number of requests charges every image a whole decode loop: for a 256M-2B model with 8
requests per batch that is several times the real run. So the dry run times one planned
batch, splits its wall time by the engine's own stage timings into these rates
(`Rates.measured`), and applies them to every planned batch's shape (`BatchShape`).

The first engine call of a process is slower than the next ones (allocations, kernel
selection); it is measured separately (a warm-up call) and added once.

Decode steps depend on the batching. A static batch decodes until its longest answer
ends, so each batch costs the measured batch's longest answer in steps. Under continuous
batching a finished row's slot is taken at once by the next request, so the slots stay
full and the run costs its answers' total length divided by the slots: a batch of R
requests costs R x (the measured mean answer length) / slots steps (`Rates.slots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchShape:
    """What one engine call will process."""

    requests: int
    visual_tokens: int
    """Visual tokens the vision tower encodes (images already encoded in the run are cached)."""
    longest_prompt: int
    """Prompt tokens (text + visual) of its longest request: the batch is padded to it."""
    pixels: int
    """Source pixels of its images (preprocessing and file decoding scale with them)."""

    def __post_init__(self) -> None:
        if min(self.requests, self.visual_tokens, self.longest_prompt, self.pixels) < 0:
            raise ValueError(f"a batch shape has no negative sizes: {self}")

    @property
    def padded_tokens(self) -> int:
        return self.requests * self.longest_prompt


@dataclass(frozen=True)
class StageTimes:
    """Wall time of one engine call and the engine's split of it (`engine.events.Timings`)."""

    wall_s: float
    vision_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    steps: int = 0
    """Decode steps of the call: its longest answer, in tokens."""
    tokens: int = 0
    """Answer tokens of all the call's requests together."""

    def __post_init__(self) -> None:
        if min(self.wall_s, self.vision_s, self.prefill_s, self.decode_s, self.steps, self.tokens) < 0:
            raise ValueError(f"stage times are not negative: {self}")

    @property
    def other_s(self) -> float:
        """Wall time outside the timed stages: preprocessing, tokenizing, result assembly."""
        return max(0.0, self.wall_s - self.vision_s - self.prefill_s - self.decode_s)


def _per(seconds: float, units: int) -> float:
    return seconds / units if units > 0 else 0.0


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of work on this machine, model and settings."""

    vision_s_per_token: float
    prefill_s_per_token: float
    decode_s_per_step: float
    steps: int
    """Decode steps per batch assumed for the other batches (those of the measured batch)."""
    prepare_s_per_pixel: float
    """Engine-call time outside vision/prefill/decode, per source pixel."""
    read_s_per_pixel: float
    """Reading and decoding the files, per source pixel (done by background threads)."""
    per_call_s: float = 0.0
    """Engine-call time outside the stages when the batch had no pixel count to charge."""
    mean_steps: float = 0.0
    """Mean answer length of the measured batch, in tokens."""
    slots: int = 0
    """Decode slots of continuous batching; 0: static batches (module docstring)."""

    def __post_init__(self) -> None:
        if self.slots < 0 or self.mean_steps < 0:
            raise ValueError(f"rates have no negative slots or steps: {self}")

    @classmethod
    def measured(cls, *, batch: BatchShape, times: StageTimes, read_s: float, slots: int = 0) -> "Rates":
        """Rates from one timed engine call on `batch` and the time its files took to decode
        (`slots`: the run batches continuously with that many decode slots)."""
        charge_pixels = batch.pixels > 0
        return cls(
            vision_s_per_token=_per(times.vision_s, batch.visual_tokens),
            prefill_s_per_token=_per(times.prefill_s, batch.padded_tokens),
            decode_s_per_step=_per(times.decode_s, times.steps),
            steps=times.steps,
            prepare_s_per_pixel=_per(times.other_s, batch.pixels) if charge_pixels else 0.0,
            read_s_per_pixel=_per(read_s, batch.pixels),
            per_call_s=0.0 if charge_pixels else times.other_s,
            mean_steps=_per(times.tokens, batch.requests),
            slots=slots,
        )

    def decode_steps(self, batch: BatchShape) -> float:
        """Decode steps `batch` costs: its longest answer (static), or its share of the
        full slots' steps (continuous)."""
        if self.slots:
            return self.mean_steps * batch.requests / self.slots
        return float(self.steps)

    def engine_s(self, batch: BatchShape) -> float:
        """Predicted wall time of the engine call for `batch`."""
        return (
            self.vision_s_per_token * batch.visual_tokens
            + self.prefill_s_per_token * batch.padded_tokens
            + self.decode_s_per_step * self.decode_steps(batch)
            + self.prepare_s_per_pixel * batch.pixels
            + self.per_call_s
        )

    def read_s(self, batch: BatchShape) -> float:
        return self.read_s_per_pixel * batch.pixels


def captioning_seconds(batches: Sequence[BatchShape], rates: Rates, *, read_threads: int) -> float:
    """Predicted time from the first batch to the last, model load excluded.

    Decoding runs in `read_threads` background threads ahead of the model, so the run
    takes as long as the slower of the two streams, plus the first batch's decoding
    (nothing is ready before it).
    """
    if not batches:
        return 0.0
    engine = sum(rates.engine_s(b) for b in batches)
    reading = sum(rates.read_s(b) for b in batches)
    return max(engine, reading / max(1, read_threads)) + rates.read_s(batches[0])
