"""Evaluation rows: one engine setting (resolution, token reduction, frame sampling) run
over held-out examples through vlmcli's Engine, scored by exact match.

Each `Setting` is one row of the table. Rows that need an engine option this vlmcli does
not have yet fail when their engine is built; they come back with `error` set instead of
numbers, so the table always shows every row and says which could not run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.world.examples import Example
from models.world.images import DETAIL, SMALL
from models.world.tasks import IMAGE_TASK_NAMES, VIDEO_TASK_NAMES

SMALL_DETAIL_TASKS = ("detail",)


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One row: which engine options, which tasks.

    name: the row label.
    tasks: tasks scored in this row (image tasks or video tasks, not both).
    max_pixels: `ResolutionPolicy.max_pixels`; None keeps the checkpoint's native bounds.
    compress: `--compress` value (none | pool:K | perceiver:M).
    temporal_pool: `--temporal-pool` value (none | K | sim:T).
    sampling: `--sampling` method for clips (uniform | keyframe | dynamic).
    frames: frames sampled per clip.
    """

    name: str
    tasks: tuple[str, ...]
    max_pixels: int | None = None
    compress: str = "none"
    temporal_pool: str = "none"
    sampling: str = "uniform"
    frames: int = 16

    def __post_init__(self) -> None:
        kinds = {t in VIDEO_TASK_NAMES for t in self.tasks}
        if not self.tasks or len(kinds) != 1 or not set(self.tasks) <= {*IMAGE_TASK_NAMES, *VIDEO_TASK_NAMES}:
            raise ValueError(f"{self.name}: tasks must be known and all image or all video, got {self.tasks}")
        if self.frames < 1:
            raise ValueError(f"{self.name}: frames must be >= 1")

    @property
    def video(self) -> bool:
        return self.tasks[0] in VIDEO_TASK_NAMES


@dataclass(kw_only=True)
class RowResult:
    """Scores of one row. accuracy: task -> exact-match fraction; error: why it did not run."""

    setting: Setting
    accuracy: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    visual_tokens: float = 0.0  # mean per question
    seconds_per_question: float = 0.0
    events_seen: float | None = None  # clips whose sampled frames show every event
    error: str | None = None

    @property
    def overall(self) -> float:
        total = sum(self.count.values())
        return sum(self.accuracy[t] * self.count[t] for t in self.accuracy) / total if total else 0.0


def normalize(text: str) -> str:
    """Lower case, surrounding whitespace and a final full stop removed."""
    return text.strip().lower().rstrip(".").strip()


def exact_match(text: str, answer: str) -> bool:
    return normalize(text) == normalize(answer)


def default_settings(*, perceiver: Sequence[int] = (8, 4), frames: int = 8, dense: int = 16) -> list[Setting]:
    """The table: images at full tokens, compressed, and at lower resolutions (detail task);
    clips densely sampled (every event visible), reduced, and by each sampler at `frames`."""
    images, videos = IMAGE_TASK_NAMES, VIDEO_TASK_NAMES
    rows = [Setting(name="images: full tokens", tasks=images), Setting(name="images: pool:2", tasks=images, compress="pool:2")]
    rows += [Setting(name=f"images: perceiver:{m}", tasks=images, compress=f"perceiver:{m}") for m in perceiver]
    for side in (DETAIL * 3 // 4, SMALL, SMALL // 2):
        rows.append(Setting(name=f"detail: max_pixels {side}x{side}", tasks=SMALL_DETAIL_TASKS, max_pixels=side * side))
    rows.append(Setting(name=f"video: uniform {dense} (full tokens)", tasks=videos, frames=dense))
    for k in (2, 4):
        rows.append(Setting(name=f"video: uniform {dense} + temporal-pool {k}", tasks=videos, frames=dense, temporal_pool=str(k)))
    rows.append(Setting(name=f"video: uniform {dense} + pool:2", tasks=videos, frames=dense, compress="pool:2"))
    rows += [
        Setting(name=f"video: uniform {dense} + perceiver:{m}", tasks=videos, frames=dense, compress=f"perceiver:{m}")
        for m in perceiver
    ]
    for method in ("uniform", "keyframe", "dynamic"):
        rows.append(Setting(name=f"video: {method} {frames}", tasks=videos, frames=frames, sampling=method))
    return rows


def load_engine(model_dir: Path, setting: Setting, *, quantize: str = "none"):
    """An Engine with the row's resolution and reduction options (raises if not supported)."""
    from vlmcli.engine import Engine, EngineConfig
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool
    from vlmcli.tiling import ResolutionPolicy

    reduction = TokenReduction(temporal=parse_temporal_pool(setting.temporal_pool), compress=parse_compress(setting.compress))
    config = EngineConfig(
        model=str(model_dir), device="cpu", dtype="float32",
        resolution=ResolutionPolicy(max_pixels=setting.max_pixels), reduction=reduction, quantize=quantize,
    )
    return Engine.load(config)


def build_requests(setting: Setting, examples: Sequence[Example], clip_dir: Path) -> tuple[list, list[bool]]:
    """Engine requests for `examples`, plus whether each clip's sampled frames show every event."""
    from vlmcli.engine import ImageInput, Request

    requests, seen = [], []
    for i, example in enumerate(examples):
        if not example.is_video:
            requests.append(Request(prompt=example.question, images=(ImageInput(example.image, source=example.task),)))
            continue
        from vlmcli.engine.video_input import VideoInput
        from vlmcli.video.sample import sample_video
        from vlmcli.video.sampling import SamplingOptions

        from models.world.frames import open_array, save_clip

        path = clip_dir / f"{example.task}-{i}.npz"
        if not path.exists():
            save_clip(example, path)
        sampled = sample_video(
            path, method=setting.sampling, options=SamplingOptions(frames=setting.frames, max_frames=max(setting.frames, 32)),
            opener=open_array,
        )
        seen.append(all(e.seen_by(sampled.plan.indices) for e in example.events))
        requests.append(Request(prompt=example.question, videos=(VideoInput.from_sampled(sampled, source=example.task),)))
    return requests, seen


def run_setting(
    model_dir: Path,
    setting: Setting,
    examples: Sequence[Example],
    *,
    clip_dir: Path | None = None,
    batch: int = 16,
    quantize: str = "none",
) -> RowResult:
    """Score `setting` on the examples of its tasks (others are skipped)."""
    from vlmcli.engine import GenerationConfig

    mine = [e for e in examples if e.task in setting.tasks]
    result = RowResult(setting=setting)
    try:
        engine = load_engine(model_dir, setting, quantize=quantize)
        with tempfile.TemporaryDirectory() as tmp:
            requests, seen = build_requests(setting, mine, Path(clip_dir or tmp))
            hits: dict[str, list[bool]] = {}
            tokens, start = 0, time.perf_counter()
            for lo in range(0, len(requests), batch):
                outs = engine.generate(requests[lo : lo + batch], GenerationConfig(max_tokens=4))
                for example, out in zip(mine[lo : lo + batch], outs):
                    hits.setdefault(example.task, []).append(exact_match(out.text, example.answer))
                    tokens += out.visual_tokens
            elapsed = time.perf_counter() - start
    except Exception as exc:  # an option this engine lacks: report the row as not run
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return result
    result.accuracy = {t: sum(v) / len(v) for t, v in hits.items()}
    result.count = {t: len(v) for t, v in hits.items()}
    result.visual_tokens = tokens / max(1, len(mine))
    result.seconds_per_question = elapsed / max(1, len(mine))
    result.events_seen = sum(seen) / len(seen) if seen else None
    return result


def markdown(results: Sequence[RowResult], *, tasks: Sequence[str]) -> str:
    """One markdown table: a line per row, a column per task, then overall, tokens, time."""
    head = ["setting", *tasks, "all", "visual tokens", "ms / question"]
    video = any(r.setting.video for r in results)
    if video:
        head.insert(len(tasks) + 2, "events in frames")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in results:
        if r.error is not None:
            lines.append(f"| {r.setting.name} | not run: {r.error} |" + " |" * (len(head) - 2))
            continue
        cells = [f"{100 * r.accuracy[t]:.0f}" if t in r.accuracy else "" for t in tasks]
        cells.append(f"**{100 * r.overall:.1f}**")
        if video:
            cells.append("" if r.events_seen is None else f"{100 * r.events_seen:.0f}%")
        cells += [f"{r.visual_tokens:.0f}", f"{1000 * r.seconds_per_question:.0f}"]
        lines.append(f"| {r.setting.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
