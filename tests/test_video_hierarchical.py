"""`video-summarize` with chapters: segments -> chapter summaries -> one summary, on a tiny
checkpoint and real decoded video. Each prompt holds one chapter's lines (or the chapters'),
never every segment's, so prompts and memory stay bounded however long the video is."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.media.video_clips import clip_set, render_motion, write_video
from vlmcli.cli import app
from vlmcli.errors import ConfigError
from vlmcli.summaries.segments import plan_segments
from vlmcli.summaries.summarize import (
    ChapterDone,
    FLAT_MAX_SEGMENTS,
    Hierarchy,
    SegmentDone,
    SummaryDone,
    plan_chapters,
    plan_summary,
    summarize,
)
from vlmcli.video.metadata import VideoInfo

runner = CliRunner()


def test_chapters_split_segments_evenly_and_cover_them():
    info = VideoInfo(path="v.mp4", fps=10.0, frame_count=2300, duration_s=230.0, width=64, height=48)
    segments = plan_segments(info, segment_seconds=10.0, max_segments=400)  # 23 windows
    chapters = plan_chapters(segments, size=10)
    assert [(c.first, c.last) for c in chapters] == [(0, 6), (7, 14), (15, 22)]
    assert chapters[0].start_s == 0.0 and chapters[-1].end_s == pytest.approx(230.0)
    assert all(a.end_s == b.start_s for a, b in zip(chapters, chapters[1:]))
    assert plan_chapters(segments[:3], size=10)[0].last == 2
    with pytest.raises(ConfigError, match="hierarchy"):
        Hierarchy.parse("tree")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """45 s of continuous motion at 10 fps (64x48): 45 one-second windows, more than 40."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return write_video(path, render_motion(450, width=64, height=48, seed=9), fps=10.0)


def test_auto_switches_to_chapters_above_the_flat_limit(long_clip):
    auto = plan_summary(long_clip, segment_seconds=1.0, scenes=False)
    assert len(auto.segments) == 45 > FLAT_MAX_SEGMENTS and len(auto.chapters) == 5
    assert auto.stretched is None
    flat = plan_summary(long_clip, segment_seconds=1.0, scenes=False, hierarchy="flat")
    assert flat.chapters == ()
    # --help says longer windows are warned about: they were not
    assert flat.stretched == (
        "segments up to 1.2 s, longer than --segment-seconds 1, to stay within 40 segments "
        "(--hierarchy flat; auto keeps their length and adds chapters)"
    )
    short = plan_summary(clip_set().motion.path, segment_seconds=1.0, scenes=False)
    assert short.chapters == () and len(short.segments) == 4 and short.stretched is None


class RecordingEngine:
    """The real engine, with every request it was given recorded."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.prompts: list[tuple[str, int]] = []  # (prompt, number of videos)

    def stream(self, requests, gen):
        for request in requests:
            self.prompts.append((request.prompt, len(request.videos)))
        yield from self.engine.stream(requests, gen)


def test_summarize_by_chapters_on_a_tiny_model(tiny_checkpoint):
    from vlmcli.engine import EngineConfig, GenerationConfig
    from vlmcli.engine.engine import Engine
    from vlmcli.video.sampling import SamplingOptions

    clip = clip_set().motion.path  # 4 s, 100 frames
    plan = plan_summary(clip, segment_seconds=1.0, scenes=False, hierarchy="chapters", chapter_segments=2,
                        options=SamplingOptions(frames=2))
    assert len(plan.segments) == 4 and [(c.first, c.last) for c in plan.chapters] == [(0, 1), (2, 3)]
    engine = RecordingEngine(Engine.load(EngineConfig(model=str(tiny_checkpoint("smolvlm")))))
    events = list(summarize(engine, plan, GenerationConfig(max_tokens=3), max_side=64))
    kinds = [type(e).__name__ for e in events if not type(e).__name__ == "TokenEvent"]
    assert kinds == ["SegmentDone", "SegmentDone", "ChapterDone", "SegmentDone", "SegmentDone", "ChapterDone",
                     "SummaryDone"]
    assert [n for _, n in engine.prompts] == [1, 1, 0, 1, 1, 0, 0]  # chapters and summary are text-only
    chapter_prompts = [p for p, n in engine.prompts if n == 0][:2]
    assert "[0:00.0-0:01.0]" in chapter_prompts[0] and "0:02.0-0:03.0" not in chapter_prompts[0]
    assert "[0:02.0-0:03.0]" in chapter_prompts[1] and "0:00.0-0:01.0" not in chapter_prompts[1]
    final = engine.prompts[-1][0]  # one line per chapter, not per segment
    assert "[0:00.0-0:02.0]" in final and "[0:02.0-0:04.0]" in final and "[0:01.0-0:02.0]" not in final
    chapters = [e for e in events if isinstance(e, ChapterDone)]
    segments = [e for e in events if isinstance(e, SegmentDone)]
    assert all(isinstance(e.text, str) for e in chapters + segments)
    assert isinstance(events[-1], SummaryDone)


def test_cli_json_and_text_with_chapters(tiny_checkpoint):
    clip = str(clip_set().motion.path)
    base = ["video-summarize", clip, "-m", str(tiny_checkpoint("smolvlm")), "--max-tokens", "3", "--frames", "2",
            "--segment-seconds", "1", "--no-scenes", "--hierarchy", "chapters", "--chapter-segments", "2"]
    result = runner.invoke(app, [*base, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["hierarchy"] == "chapters" and len(record["segments"]) == 4
    assert [c["segments"] for c in record["chapters"]] == [[0, 1], [2, 3]]
    assert [(c["start_s"], c["end_s"]) for c in record["chapters"]] == [(0.0, 2.0), (2.0, 4.0)]
    assert all(isinstance(c["summary"], str) for c in record["chapters"])
    assert isinstance(record["summary"], str) and record["visual_tokens"] > 0
    text = runner.invoke(app, base)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("[0:00.0-0:01.0]") and lines[2].startswith("== Chapter 1 [0:00.0-0:02.0]")
    assert lines[5].startswith("== Chapter 2 [0:02.0-0:04.0]") and "Summary:" in text.stdout
    dry = runner.invoke(app, [*base, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["hierarchy"] == "chapters" and len(planned["chapters"]) == 2


def test_an_endless_segment_length_is_a_usage_error():
    """`--segment-seconds inf` passed min=1 and failed after the scan as "unexpected ValueError"."""
    result = CliRunner().invoke(app, ["video-summarize", str(clip_set().motion.path), "--segment-seconds", "inf", "--dry-run"])
    assert result.exit_code == 2 and result.stderr.strip() == "Error: --segment-seconds must be a number of seconds, not inf."
