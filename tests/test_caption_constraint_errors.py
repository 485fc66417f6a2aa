"""A constraint the grammar backend cannot take is the user's setting, not an item's fault:
caption-dir wrote one error row per image ("--regex cannot be compiled ...") and exit 9,
where ask, describe and video-summarize stop with exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("xgrammar")

from vlmcli.cli import app  # noqa: E402
from vlmcli.testing.fakes import isolate_env, save_photo  # noqa: E402


@pytest.mark.parametrize("batching", [[], ["--static-batching"]])
def test_a_regex_the_grammar_cannot_take_stops_the_run(monkeypatch, tmp_path, tiny_checkpoint, batching):
    isolate_env(monkeypatch, tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_photo(photos / f"{i}.jpg", name=("astronaut", "coffee", "chelsea")[i])
    out = tmp_path / "out"
    args = ["caption-dir", str(photos), "-m", str(tiny_checkpoint("qwen2_vl")), "-o", str(out), "--format", "jsonl", "-q"]
    result = CliRunner().invoke(app, [*args, "--regex", "(?=a)b", *batching])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: --regex ") and len(result.stderr.splitlines()) == 1
    assert not out.exists()  # no error rows written (the folder the run made is removed again)


def test_answers_cut_before_their_constraint_is_met_are_said(monkeypatch, tmp_path, tiny_checkpoint):
    """caption-dir wrote such rows as plain `ok` (answer_json null, nothing said) and
    video-summarize listed no warning, where ask warns on stderr."""
    import json

    from vlmcli.testing.media.video_clips import clip_set

    isolate_env(monkeypatch, tmp_path)
    model = str(tiny_checkpoint("qwen2_vl"))
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    out = tmp_path / "out"
    cut = ["--regex", "[a-z]{30}", "--max-tokens", "3"]
    result = CliRunner().invoke(app, ["caption-dir", str(photos), "-m", model, "-o", str(out), "--format", "jsonl", *cut])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for f in out.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert row["status"] == "ok" and row["answer_json"] is None
    assert row["notes"].startswith("--max-tokens cut the constrained answer before it was complete")
    assert f"warning: {photos / 'a.jpg'}: --max-tokens cut" in result.stderr
    summary = CliRunner().invoke(
        app, ["video-summarize", str(clip_set().motion.path), "-m", model, "--no-scenes", "--frames", "2", "--json", *cut]
    )
    assert summary.exit_code == 0, summary.output
    record = json.loads(summary.stdout)
    assert record["warnings"] and all("--max-tokens cut the constrained answer" in w for w in record["warnings"])
    # the segment prompt as sent: with the line stating its constraint (was without it)
    stated = record["prompt"].split("\n")
    assert len(stated) == 2 and stated[0].startswith("Describe what happens") and stated[1]
