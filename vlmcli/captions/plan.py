"""Turn probed files and prompts into the work of one run (pure: no I/O, no model).

Paths are resolved (`discover`: absolute, folders resolved), and the sink resolves the
paths of stored rows the same way, so "the same path" means the same file whatever the
current folder or the spelling used by this run or an earlier one.

A dataset item img2dataset could not download (`probe.undownloaded`) can never be captioned:
it gets no row and is counted (`undownloaded`); an error row an earlier version wrote for it
is retired (unless it sits in another job's shard), so such items never make a run fail.

For every other (file, prompt) in this `--shard`:

- an ok row with the same (path, content key, config hash) exists -> skipped;
- an error row exists -> retried: the old row is retired (removed) and the item redone,
  unless it sits in another job's shard, which this run may not rewrite (kept, counted);
- the file could not be read, or the sink cannot write its output -> an error row now;
- an ok row exists for the same content and settings at another path -> a copy of it;
- otherwise a `Task` (one engine request), except that identical files (same key and
  prompt) share one task: the later paths ride along as `followers` and get copies of
  its row. Duplicates are therefore captioned once, and every path still gets a row.

Videos (`--videos`) go through the same rules with their own prompts (`video_prompts`):
their config hash also covers the frame sampling, so changing `--frames` redoes videos
without touching the images' rows. A video's error rows under the images' prompts (written
by a run without `--videos`: "add --videos") are retired when it is captioned as a video.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vlmcli.captions.probe import Probe
from vlmcli.captions.prompts import Prompt
from vlmcli.captions.rows import copy_row
from vlmcli.captions.shard import ShardSpec
from vlmcli.sinks.base import ResumeState
from vlmcli.sinks.schema import Row, RowId
from vlmcli.video.metadata import VideoInfo


@dataclass(frozen=True)
class Task:
    """One engine request: one image (or video) with one prompt; its row is copied to each follower."""

    path: str
    key: str
    size: tuple[int, int] | None
    prompt: Prompt
    followers: tuple[str, ...] = ()
    video: VideoInfo | None = None
    """The video's properties when this task captions a video (`--videos`); None for an image."""
    animated: bool = False
    """An animation captioned by its first frame (no --videos): its rows say so in `notes`."""

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, *self.followers)

    def cost(self) -> tuple[int, str, int]:
        """Batching order: pixel count, then content (same image, all prompts adjacent), then prompt."""
        pixels = self.size[0] * self.size[1] if self.size else 0
        return (pixels, self.key, self.prompt.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "key": self.key,
            "size": list(self.size) if self.size else None,
            "prompt": {"text": self.prompt.text, "index": self.prompt.index, "config_hash": self.prompt.config_hash},
            "followers": list(self.followers),
            "video": self.video.to_dict() if self.video is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Task":
        size = data.get("size")
        return cls(
            path=data["path"],
            key=data["key"],
            size=(int(size[0]), int(size[1])) if size else None,
            prompt=Prompt(**data["prompt"]),
            followers=tuple(data.get("followers", ())),
            video=VideoInfo(**data["video"]) if data.get("video") else None,
        )


@dataclass(frozen=True)
class Failure:
    """An item known to fail before any decoding (unreadable file, unwritable output)."""

    path: str
    key: str | None
    size: tuple[int, int] | None
    prompt: Prompt
    message: str


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    copies: list[Row] = field(default_factory=list)
    """Finished rows copied from earlier results (same content at a new path)."""
    skipped: int = 0
    """(file, prompt) items already done."""
    kept_failed: int = 0
    """Items whose error rows are in another job's shards: not retried by this run."""
    out_of_shard: int = 0
    """Files that belong to other `--shard`s."""
    undownloaded: int = 0
    """Dataset items img2dataset could not download (in this `--shard`): no rows."""
    retire: set[tuple[str, str]] = field(default_factory=set)
    """(path, config_hash) of old error rows to remove because this run redoes them."""

    @property
    def rows_to_write(self) -> int:
        return sum(len(t.paths) for t in self.tasks) + len(self.failures) + len(self.copies)


def build_plan(
    probes: Sequence[Probe],
    prompts: Sequence[Prompt],
    *,
    shard: ShardSpec,
    resume: ResumeState,
    blocked: dict[str, str] | None = None,
    video_prompts: Sequence[Prompt] | None = None,
) -> Plan:
    """The work for this run; see the module docstring for the rules, applied in that order.

    video_prompts: the prompts of video probes (`probe.kind == "video"`); default `prompts`.
    """
    blocked = blocked or {}
    plan = Plan()
    primary: dict[tuple[str, str], int] = {}  # (key, config_hash) -> index into plan.tasks
    followers: dict[int, list[str]] = {}
    for probe in probes:
        if not shard.contains(key=probe.key, path=probe.path):
            plan.out_of_shard += 1
            continue
        if probe.undownloaded:
            plan.undownloaded += 1
            hashes = {h for p in (*prompts, *(video_prompts or ())) for h in (p.config_hash, *p.aliases)}
            plan.retire.update((probe.path, h) for h in hashes if resume.failed.get((probe.path, h)))
            continue
        as_video = probe.kind == "video" and video_prompts is not None
        if as_video:  # its error rows from runs without --videos ("add --videos") are replaced now
            stale = ((probe.path, p.config_hash) for p in prompts)
            plan.retire.update(pair for pair in stale if resume.failed.get(pair))
        for prompt in (video_prompts if as_video else prompts):
            pair = (probe.path, prompt.config_hash)
            if any(resume.is_done(RowId(probe.path, probe.key, h)) for h in (prompt.config_hash, *prompt.aliases)):
                plan.skipped += 1
                continue
            if pair in resume.failed:
                if not resume.failed[pair]:
                    plan.kept_failed += 1
                    continue
                plan.retire.add(pair)
            plan.retire.update((probe.path, h) for h in prompt.aliases if resume.failed.get((probe.path, h)))
            message = probe.error or blocked.get(probe.path)
            if message is not None or probe.key is None:
                plan.failures.append(Failure(probe.path, probe.key, probe.size, prompt, message or "unreadable"))
                continue
            reusable = next(
                (r for h in (prompt.config_hash, *prompt.aliases) if (r := resume.reusable.get((probe.key, h)))), None
            )
            if reusable is not None:
                plan.copies.append(copy_row(reusable, path=probe.path) | {"config_hash": prompt.config_hash})
                continue
            index = primary.get((probe.key, prompt.config_hash))
            if index is not None:
                followers.setdefault(index, []).append(probe.path)
                continue
            primary[(probe.key, prompt.config_hash)] = len(plan.tasks)
            plan.tasks.append(Task(probe.path, probe.key, probe.size, prompt, video=probe.video, animated=probe.animated))
    for index, paths in followers.items():
        plan.tasks[index] = dataclasses.replace(plan.tasks[index], followers=tuple(paths))
    return plan
