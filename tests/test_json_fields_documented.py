"""Every field a command's `--json` prints is documented where the command says it is.

- `ask --json` (and `describe --json`, "fields as in `vlm ask --help`"): `vlm ask --help`, each
  image's, video's and sampling's fields included (`truncated`, `units` were missing);
- `video-summarize --json`: docs/video-summarize.md's table, and `vlm video-summarize --help`;
  it has `decoder` and `video_start_s` as `ask --json` has them for a video (it had neither);
- `caption-dir --dry-run --json`: docs/caption-dir.md's table (the run's summary has its own
  test, tests/test_caption_cli.py);
- `export --json`: README's table ("Out to trainers").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer.main
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.testing.fakes import install_fake_engine, isolate_env

ROOT = Path(__file__).resolve().parents[1]
GROUP = typer.main.get_command(app)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _help(command: str) -> str:
    sub = GROUP.commands[command]  # type: ignore[attr-defined]
    return sub.get_help(sub.context_class(sub, info_name=command))


def _named(key: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", text) is not None


def _keys(record: dict, *paths: str) -> set[str]:
    """The keys of `record` and of the objects at `paths` (`videos.0.sampling`)."""
    keys = set(record)
    for path in paths:
        node: object = record
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        keys |= set(node)  # type: ignore[arg-type]
    return keys


def _ask_record() -> dict:
    from vlmcli.commands._render import Item, result_record
    from vlmcli.engine.events import FinishReason, GenerationResult, ImageUsage, ResolutionFit, VideoUsage
    from vlmcli.video.sampling_report import ReportedCut, ReportedFrame, SamplingReport

    sampling = SamplingReport(
        method="keyframe", decoder="pyav", frames=(ReportedFrame(0, 0.0, "scene 1 mid"),),
        cuts=(ReportedCut(3, 0.12, 0.9),),
    )
    result = GenerationResult(
        text="a cat", token_ids=[1], finish_reason=FinishReason.STOP, prompt_tokens=9, visual_tokens=4,
        completion_tokens=1, images=[ImageUsage("a.png", 8, 8, (8, 8), 2)],
        videos=[VideoUsage("c.mp4", frames=2, units=1, visual_tokens=2, resized=(8, 8), sampling=sampling)],
        fit=ResolutionFit(max_pixels=64, max_tiles=None, needed_tokens=9, prompt_tokens=8, context_length=8),
        valid=True, parsed="a cat",
    )
    return result_record(result, Item(inputs=("a.png", "c.mp4")), "m", 0.5)


def test_every_ask_json_field_is_in_ask_help():
    record = _ask_record()
    keys = _keys(record, "timings", "truncated", "images.0", "videos.0", "videos.0.sampling",
                 "videos.0.sampling.frames.0", "videos.0.sampling.cuts.0")
    fields = _help("ask").split("With --json", 1)[1]
    assert sorted(k for k in keys if not _named(k, fields)) == []


def test_describe_names_the_fields_of_its_error_objects():
    from vlmcli.commands._render import error_record
    from vlmcli.errors import InputError

    text = _help("describe")
    assert sorted(k for k in error_record("x.png", InputError("No such file: x.png")) if not _named(k, text)) == []


def _summary_record(monkeypatch) -> dict:
    from vlmcli.testing.media.video_clips import clip_set

    install_fake_engine(monkeypatch)
    args = ["video-summarize", str(clip_set().motion.path), "--json", "--frames", "2", "--no-scenes",
            "--segment-seconds", "1", "--hierarchy", "chapters", "--chapter-segments", "2", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_video_summarize_json_field_is_documented(monkeypatch):
    record = _summary_record(monkeypatch)
    assert record["chapters"], "the record must have chapters for their fields to be checked"
    docs = (ROOT / "docs" / "video-summarize.md").read_text().split("## `--json`", 1)[1]
    keys = _keys(record, "segments.0", "segments.0.frames.0", "chapters.0", "detection", "frames.0")
    assert sorted(k for k in keys if f"`{k}`" not in docs and f'"{k}"' not in docs) == []
    fields = _help("video-summarize").split("With --json", 1)[1]
    assert sorted(k for k in record if not _named(k, fields)) == []


def test_video_summarize_json_has_the_video_fields_ask_has(monkeypatch):
    """README: `decoder` and `video_start_s` in `--json`; video-summarize's had neither."""
    record = _summary_record(monkeypatch)
    assert record["decoder"] in ("decord", "pyav") and record["video_start_s"] == 0
    names = list(record)
    assert names.index("decoder") == names.index("variable_frame_rate") + 1  # beside the video's rate


def _dry_run_record() -> dict:
    from vlmcli.captions.calibration import Estimate
    from vlmcli.captions.dryrun import DryRunReport
    from vlmcli.captions.input_counts import InputCounts
    from vlmcli.captions.ray_pool import pool_plan
    from vlmcli.inputs.counts import DatasetCounts, ShardCount
    from vlmcli.inputs.formats import InputFormat

    report = DryRunReport(
        counts=InputCounts(), files=1, ignored=0, prompts=1, skipped=0, rows=1, requests=1, known_errors=0,
        batch_size=8, batches=1,
    )
    report.estimate = Estimate(seconds=1.0, source="measured")
    report.dataset = DatasetCounts(shards=(ShardCount("a.tar", InputFormat.WEBDATASET, 3),))
    report.ray = pool_plan(SimpleNamespace(concurrency=1, engine=SimpleNamespace(device="cpu")), batches=1)
    return report.to_dict()


def test_every_caption_dir_dry_run_json_field_is_documented():
    record = _dry_run_record()
    keys = _keys(record, "counts", "context", "estimate", "dataset", "dataset.shards.0", "ray")
    docs = (ROOT / "docs" / "caption-dir.md").read_text()
    table = docs.split("`--dry-run --json` prints that report", 1)[1].split("\n\n", 2)[1]
    assert sorted(k for k in keys if f"`{k}`" not in table and f'"{k}"' not in table) == []


def test_every_export_json_field_is_documented():
    from vlmcli.commands.export import json_summary
    from vlmcli.exports.formats.base import ExportFormat, ExportSummary
    from vlmcli.exports.records import Joined

    keys = json_summary(ExportFormat.JSONL, Joined(records=[], columns={}), ExportSummary(out=None))
    readme = (ROOT / "README.md").read_text()
    table = readme.split("`vlm export --json` prints the summary", 1)[1].split("\n\n", 2)[1]
    assert sorted(k for k in keys if f"`{k}`" not in table) == []
