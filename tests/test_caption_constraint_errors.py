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
