"""Which frames of a video the model saw, and how they were chosen: for `--json` and warnings.

A `SamplingReport` is built once from what `sample_video` returned and travels with the
decoded frames (`VideoInput.sampling`) to the engine's per-video usage, so `ask --json`
and `describe --json` list, per video, the sampler, the decoder that read the file, every
frame given to the model (index, time, the sampler's reason) and the cuts a keyframe scan
found; times are on the file's timeline (`VideoInfo.start_s`, reported as `video_start_s`).
Uniform, keyframe and dynamic sampling differ in `method` and in the reasons
("uniform 3/8", "scene 2 mid", "change"). When the cut-detection scan was degraded
(`Scan.degraded`), the sentence is kept here; commands print it once on stderr. So are the
notes on a video read otherwise than a user may expect (`reading_notes`: which stream of
several, a late first picture, `--frames` cut back), listed in `--json` as `warnings`.

Plain values only (no numpy): the engine's event module refers to this type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlmcli.video.sample import SampledVideo


@dataclass(frozen=True)
class ReportedFrame:
    """One frame the model saw.

    index: frame number in the video (0-based).
    t: its time in seconds, as the decoder reported it.
    reason: why the sampler chose it, e.g. "uniform 3/8", "scene 2 mid", "change".
    """

    index: int
    t: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "time_s": round(self.t, 6), "reason": self.reason}


@dataclass(frozen=True)
class ReportedCut:
    """A scene cut the keyframe scan found: the first frame of the new scene, its time and score."""

    index: int
    t: float
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "time_s": round(self.t, 6), "score": round(self.score, 6)}


@dataclass(frozen=True)
class SamplingReport:
    """How one video's frames were chosen and read.

    method: the sampler ("uniform", "keyframe" or "dynamic").
    decoder: the backend that decoded the file ("decord" or "pyav").
    frames: the frames given to the model, in time order (at least one).
    cuts: cuts the sampler detected (empty unless it looks for them).
    scan_degraded: None when the change scan ran in full (or none was needed); else the
        sentence saying how cut detection was degraded.
    """

    method: str
    decoder: str
    frames: tuple[ReportedFrame, ...]
    cuts: tuple[ReportedCut, ...] = ()
    scan_degraded: str | None = None
    damaged: str | None = None
    """None when every chosen frame decoded; else the sentence naming the frames that stood in
    for damaged ones (`decode.damage_note`)."""
    variable_rate: bool = False
    """The video's frames are not evenly spaced (phone, screen and meeting recordings): the
    times given are the frames' own, not index / average rate."""
    start_s: float = 0.0
    """Where frame 0 sits on the file's timeline (`VideoInfo.start_s`); frame and cut times
    here already include it, so they match what a player shows."""
    notes: tuple[str, ...] = ()
    """Sentences on what was read that a user would not expect, each naming the video
    (`reading_notes.reading_notes`): which video stream of several is read, a first picture
    after the file's start, a `--frames N` cut back to the frames the video holds. Commands
    say each once on stderr; `--json` lists them as `warnings`."""

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a sampling report needs at least one frame")
        if not self.method or not self.decoder:
            raise ValueError("a sampling report needs a method and a decoder")

    @classmethod
    def from_sampled(cls, sampled: "SampledVideo", *, source: str | None = None) -> "SamplingReport":
        """The report of `sample_video`'s result: the decoded frames with the plan's reasons, and
        the notes on how the file was read, naming it as `source` (default: its path)."""
        from vlmcli.video.decode import damage_note
        from vlmcli.video.reading_notes import reading_notes

        reasons = {f.index: f.reason for f in sampled.plan.frames}
        for asked, read in sampled.frames.replaced:
            if read is not None:
                reasons[read] = f"in place of frame {asked}, which would not decode"
        start = sampled.info.start_s  # the decoder's times count from frame 0; the file's from its start
        frames = tuple(
            ReportedFrame(index=int(i), t=float(t) + start, reason=reasons.get(int(i), ""))
            for i, t in zip(sampled.frames.indices, sampled.frames.timestamps)
        )
        cuts = tuple(ReportedCut(index=c.index, t=c.t + start, score=c.score) for c in sampled.plan.cuts)
        return cls(
            method=sampled.method.value,
            decoder=sampled.info.decoder,
            frames=frames,
            cuts=cuts,
            scan_degraded=sampled.scan.degraded if sampled.scan is not None else None,
            damaged=damage_note(sampled.frames.replaced),
            variable_rate=sampled.info.variable_rate,
            start_s=start,
            notes=reading_notes(sampled, source=source),
        )

    def to_dict(self) -> dict[str, object]:
        """The `"sampling"` object of a video in `--json` (the decoder is reported beside it)."""
        return {
            "method": self.method,
            "frames": [f.to_dict() for f in self.frames],
            "cuts": [c.to_dict() for c in self.cuts],
            "scan_degraded": self.scan_degraded,
            "damaged": self.damaged,
            "video_start_s": round(self.start_s, 6),
            "warnings": list(self.notes),
        }
