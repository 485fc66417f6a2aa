"""The checks of `bench/field_run.py`: issue 15's list, one function per reported breakage.

Each check runs `vlm` the way the report did and returns a short note of what it saw; it
raises `Failed` (via `expect`) when the behaviour is not what README promises.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

from bench.field_media import Media
from bench.field_support import ROOT, Runner, check, expect

QUESTION = "What color is the small dot?"


def rows_of(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    return [row for p in files for row in pq.read_table(p).to_pylist()]


def fresh(folder: Path) -> Path:
    """An empty output folder (a kept work folder may hold a previous run's)."""
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def progress_lines(stderr: str) -> list[str]:
    """The timed lines and the last one (`Captioning: 3/4 done (...)`), not the start line."""
    return [line for line in stderr.splitlines() if line.startswith("Captioning: ")]


@check("1. caption-dir writes progress lines to a log and publishes shards while it runs")
def caption_log(run: Runner, media: Media) -> str:
    out = fresh(run.work / "out-log")
    result = run.vlm("caption-dir", media.mix, "-o", out, "--log-every", "1", "--flush-seconds", "1", "--max-tokens", "8")
    expect(result.code == 9, f"exit {result.code} (want 9: one broken file); stderr: {result.stderr[-400:]}")
    lines = progress_lines(result.stderr)
    expect(len(lines) >= 2, f"{len(lines)} progress lines in the log: {result.stderr[-600:]!r}")
    expect("\x1b[" not in result.stderr, "terminal escape codes in a log file")
    rows = rows_of(out)
    expect(len(rows) >= 4, f"{len(rows)} rows")
    return f"{len(lines)} progress lines, e.g. {lines[-1].strip()!r}; {len(rows)} rows"


@check("2. a rerun in any spelling of the folder redoes nothing and keeps one row per item")
def resume_spelling(run: Runner, media: Media) -> str:
    out = fresh(run.work / "out-resume")
    elsewhere = run.work / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    link = run.work / "mix-link"
    if not link.exists():
        link.symlink_to(media.mix, target_is_directory=True)
    first = run.vlm("caption-dir", "media/mix", "-o", "out-resume", "--max-tokens", "8", cwd=run.work)
    expect(first.code == 9, f"first run exit {first.code}: {first.stderr[-300:]}")
    before = rows_of(out)
    spellings = [
        (str(media.mix.resolve()), elsewhere),
        ("./media/mix", run.work),
        ("media/mix/../mix", run.work),
        ("../mix-link", elsewhere),
    ]
    for spelling, cwd in spellings:
        again = run.vlm("caption-dir", spelling, "-o", out, "--max-tokens", "8", cwd=cwd)
        after = rows_of(out)
        ok = [r for r in after if r["status"] == "ok"]
        expect(again.code == 9, f"rerun as {spelling!r}: exit {again.code}: {again.stderr[-300:]}")
        expect(len(after) == len(before), f"rerun as {spelling!r}: {len(before)} rows became {len(after)}")
        expect(len({(r["key"], r["prompt"]) for r in ok}) == len(ok), f"duplicate ok rows after {spelling!r}")
        expect("already done" in again.stderr or "skipped" in again.stderr, f"summary says nothing skipped: {again.stderr[-300:]}")
    return f"{len(before)} rows after 5 runs in 5 spellings; last summary: {again.stderr.strip().splitlines()[-1]!r}"


@check("3. caption-dir --dry-run counts every input and estimates from a measured batch (within 2x with --timing)")
def dry_run_estimate(run: Runner, media: Media) -> str:
    out = fresh(run.work / "out-dry")
    dry = run.vlm("caption-dir", media.mix, "-o", out, "--dry-run", "--json", "--max-tokens", "8")
    expect(dry.code == 0, f"dry run exit {dry.code}: {dry.stderr[-300:]}")
    plan = dry.json_lines()[-1]
    text = json.dumps(plan)
    expect("null" not in json.dumps(plan.get("visual_tokens")), f"visual_tokens is null: {text[:300]}")
    real = run.vlm("caption-dir", media.mix, "-o", out, "--max-tokens", "8", "--json")
    expect(real.code == 9, f"real run exit {real.code}")
    estimate = float(plan["estimate"]["seconds"])
    spent = real.seconds
    ratio = max(estimate, spent) / max(min(estimate, spent), 1e-6)
    expect(plan["estimate"]["source"].startswith("measured"), f"estimate not measured: {plan['estimate']}")
    if run.timing:  # a timing is a measurement, asserted only when asked (never in CI)
        expect(ratio <= 2.0, f"estimate {estimate:.1f} s vs real {spent:.1f} s ({ratio:.1f}x): {plan['estimate']}")
    return f"{ratio:.2f}x apart; counts {plan.get('counts')}; estimate {estimate:.1f} s ({plan['estimate'].get('source')}) vs real {spent:.1f} s"


@check("4. describe with a broken file among good ones describes the good ones and exits 9")
def describe_many(run: Runner, media: Media) -> str:
    files = [media.good[0], media.broken, media.good[1]]
    plain = run.vlm("describe", *files, "--max-tokens", "8")
    expect(plain.code == 9, f"exit {plain.code}: {plain.stderr[-300:]}")
    expect(plain.text.count("==> ") == 2, f"stdout: {plain.text!r}")
    expect(plain.stderr.count("Error:") == 1, f"stderr: {plain.stderr!r}")
    as_json = run.vlm("describe", *files, "--max-tokens", "8", "--json")
    objects = as_json.json_lines()
    expect(as_json.code == 9 and len(objects) == 3, f"exit {as_json.code}, {len(objects)} objects")
    expect(sum(1 for o in objects if o.get("error")) == 1, f"objects: {objects}")
    return "2 descriptions + 1 error (text and JSON), exit 9"


@check("5. videos in every codec ffmpeg writes are decoded (decord, or PyAV where decord fails)")
def codecs(run: Runner, media: Media) -> str:
    seen = []
    for label, clip in media.clips.items():
        result = run.vlm("ask", clip, "What happens?", "--json", "--max-tokens", "4", "--frames", "4")
        expect(result.code == 0, f"{label}: exit {result.code}: {result.stderr.strip()[-300:]}")
        video = result.json_lines()[-1]["videos"][0]
        seen.append(f"{label}:{video.get('decoder')}")
    return ", ".join(seen)


@check("6. scene detection keeps finding hard cuts on a long cut-heavy video")
def long_scenes(run: Runner, media: Media) -> str:
    result = run.vlm("video-summarize", media.long_clip, "--dry-run", "--json")
    expect(result.code == 0, f"exit {result.code}: {result.stderr[-300:]}")
    plan = result.json_lines()[-1]
    detection = plan["detection"]
    expect(not detection.get("degraded"), f"detection degraded: {detection}")
    found = set(int(c) for c in detection["cut_frames"])
    truth = set(media.long_cuts)
    hits = sum(1 for c in truth if any(abs(c - f) <= 1 for f in found))
    precision, recall = hits / max(1, len(found)), hits / max(1, len(truth))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    expect(f1 >= 0.9, f"F1 {f1:.2f} ({len(found)} found, {len(truth)} true cuts)")
    return f"F1 {f1:.3f} on {len(truth)} cuts over {media.long_cuts[-1] / media.fps / 60:.1f} min"


@check("7. --max-tiles and --max-pixels never raise the visual tokens; --min-pixels > --max-pixels is refused")
def caps(run: Runner, media: Media) -> str:
    def tokens(*flags: str) -> int:
        result = run.vlm("ask", media.good[0], "q", "--dry-run", "--json", *flags)
        expect(result.code == 0, f"{flags}: exit {result.code}: {result.stderr[-200:]}")
        return sum(i["visual_tokens"] for i in result.json_lines()[-1]["images"])

    native = tokens()
    capped = {flag: tokens(*flag.split()) for flag in ("--max-tiles 1", "--max-tiles 4", "--max-pixels 1000000")}
    expect(all(t <= native for t in capped.values()), f"native {native}, capped {capped}")
    bad = run.vlm("ask", media.good[0], "q", "--min-pixels", "800000", "--max-pixels", "400000")
    expect(bad.code == 2 and "800000" in bad.stderr and "400000" in bad.stderr, f"exit {bad.code}: {bad.stderr}")
    return f"native {native} tokens, capped {capped}; min > max refused"


@check("8. video-summarize takes --prompt and --summary-prompt; segments carry reason, frames, tokens")
def summarize_prompts(run: Runner, media: Media) -> str:
    result = run.vlm("video-summarize", media.cuts_clip, "--json", "--max-tokens", "6",
                     "--prompt", "What color is the small dot?", "--summary-prompt", "Summarise the video.")
    expect(result.code == 0, f"exit {result.code}: {result.stderr[-300:]}")
    report = result.json_lines()[-1]
    expect(report.get("prompt") == "What color is the small dot?", f"prompt not recorded: {list(report)}")
    expect(report.get("summary_prompt") == "Summarise the video.", "summary prompt not recorded")
    segment = report["segments"][0]
    for key in ("reason", "frames", "visual_tokens"):
        expect(key in segment, f"segment lacks {key}: {sorted(segment)}")
    frame = segment["frames"][0]
    expect({"index", "time_s"} <= set(frame), f"frame entry {frame}")
    return f"{len(report['segments'])} segments, first: reason={segment['reason']}, {len(segment['frames'])} frames"


@check("9. ask --json lists each video's frames and sampler, different per sampling method")
def sampled_frames(run: Runner, media: Media) -> str:
    seen = {}
    for method in ("uniform", "keyframe", "dynamic"):
        result = run.vlm("ask", media.cuts_clip, "q", "--json", "--max-tokens", "2", "--sampling", method, "--frames", "6")
        expect(result.code == 0, f"{method}: exit {result.code}: {result.stderr[-300:]}")
        video = result.json_lines()[-1]["videos"][0]
        sampling = video["sampling"]
        expect(sampling["method"] == method, f"{method}: reported as {sampling['method']}")
        expect(all({"index", "time_s"} <= set(f) for f in sampling["frames"]), f"frames {sampling['frames']}")
        seen[method] = tuple(f["index"] for f in sampling["frames"])
    expect(len(set(seen.values())) >= 2, f"all methods chose the same frames: {seen}")
    return "; ".join(f"{m}: {list(v)}" for m, v in seen.items())


@check("10. vlm config agrees with what commands do (HF_HUB_OFFLINE=1 means offline)")
def config_offline(run: Runner, media: Media) -> str:
    result = run.vlm("config", "--json", HF_HUB_OFFLINE="1")
    expect(result.code == 0, f"exit {result.code}")
    offline = json.loads(result.text)["settings"]["offline"]
    expect(offline["value"] is True and "HF_HUB_OFFLINE" in json.dumps(offline), f"offline reported as {offline}")
    return f"offline = {offline}"


@check("11. non-UTF-8 file names give valid UTF-8 JSON with the original bytes recoverable")
def non_utf8(run: Runner, media: Media) -> str:
    result = run.vlm("describe", os.fsdecode(media.non_utf8), "--json", "--max-tokens", "4")
    expect(result.code == 0, f"exit {result.code}: {result.stderr[-200:]}")
    obj = json.loads(result.stdout.decode("utf-8"))
    image = obj["images"][0]
    expect(base64.b64decode(image["path_bytes"]) == media.non_utf8, f"path_bytes {image.get('path_bytes')}")
    out = fresh(run.work / "out-bytes")
    run.vlm("caption-dir", media.mix, "-o", out, "--max-tokens", "4")
    rows = [r for r in rows_of(out) if r.get("path_bytes")]
    expect(len(rows) == 1 and rows[0]["path_bytes"] == media.non_utf8, "caption-dir row lacks path_bytes")
    return f"path {image['path']!r} + path_bytes, in JSON and in the Parquet row"


@check("12. vlm models and README agree on LLaVA video")
def models_llava(run: Runner, media: Media) -> str:
    result = run.vlm("models", "--json")
    families = {f["family"]: f["video"] for f in json.loads(result.text)["families"]}
    readme = (ROOT / "README.md").read_text()
    llava = {name: video for name, video in families.items() if name.startswith("llava")}
    expect(all(video in ("frames as images", "native") for video in llava.values()), f"vlm models: {llava}")
    for name, video in llava.items():
        row = next((line for line in readme.splitlines() if line.startswith("| ") and f"| `{name}` |" in line), "")
        expect(f"| {video} |" in row, f"README's {name} row says otherwise: {row!r}")
    return f"vlm models: {llava}"


@check("13. --format txt with chelsea.png and chelsea.jpg in one folder captions both")
def txt_pair(run: Runner, media: Media) -> str:
    folder = fresh(run.work / "pair-copy")
    shutil.copytree(media.pair, folder, dirs_exist_ok=True)
    result = run.vlm("caption-dir", folder, "--format", "txt", "--txt-name", "filename", "--max-tokens", "4")
    expect(result.code == 0, f"exit {result.code}: {result.stderr[-300:]}")
    made = sorted(p.name for p in folder.glob("*.txt"))
    expect(made == ["chelsea.jpg.txt", "chelsea.png.txt"], f"made {made}")
    return f"made {made}"


@check("14. a dry run over the context exits 5 like the real run")
def dry_run_context(run: Runner, media: Media) -> str:
    dry = run.vlm("ask", media.good[0], "q", "--dry-run", "--max-tokens", "4090")
    real = run.vlm("ask", media.good[0], "q", "--max-tokens", "4090")
    expect(dry.code == 5 and real.code == 5, f"dry run exit {dry.code}, real run exit {real.code}")
    return f"both exit 5: {dry.stderr.strip().splitlines()[-1]!r}"


@check("15. an unquoted question gets a hint to quote it")
def unquoted(run: Runner, media: Media) -> str:
    result = run.vlm("ask", media.good[0], "What", "is", "this")
    expect(result.code in (2, 3) and "quote" in result.stderr.lower(), f"exit {result.code}: {result.stderr}")
    return result.stderr.strip().splitlines()[-1]
