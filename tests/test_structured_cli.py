"""--schema/--choice/--regex/--json-mode/--no-schema-prompt on every command, with the real
engine on tiny checkpoints; flag mistakes exit 2 before loading; a missing extra exits 7."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("xgrammar")

from vlmcli.cli import app  # noqa: E402
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo  # noqa: E402
from vlmcli.testing.media.video_clips import render_scenes, write_video  # noqa: E402

runner = CliRunner()
SCHEMA = '{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["n"]}'


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def model(tiny_checkpoint) -> str:
    return str(tiny_checkpoint("smolvlm"))


def test_ask_choice_json_has_valid_and_parsed(model, tmp_path):
    photo = str(save_photo(tmp_path / "a.jpg"))
    result = runner.invoke(app, ["ask", "-m", model, photo, "Inside?", "--choice", "yes", "--choice", "no", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["valid"] is True and record["parsed"] == record["text"] in ("yes", "no")


def test_ask_schema_text_output_prints_the_json(model, tmp_path):
    photo = str(save_photo(tmp_path / "a.jpg"))
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(SCHEMA)
    for schema in (SCHEMA, str(schema_file)):
        result = runner.invoke(app, ["ask", "-m", model, photo, "How many?", "--schema", schema, "--max-tokens", "40"])
        assert result.exit_code == 0, result.output
        assert 0 <= json.loads(result.stdout)["n"] <= 9


def test_free_text_json_is_unchanged(model, tmp_path):
    photo = str(save_photo(tmp_path / "a.jpg"))
    record = json.loads(runner.invoke(app, ["ask", "-m", model, photo, "Q?", "--json", "--max-tokens", "2"]).stdout)
    assert "valid" not in record and "parsed" not in record


def test_length_cut_is_invalid_and_said_on_stderr(model, tmp_path):
    photo = str(save_photo(tmp_path / "a.jpg"))
    result = runner.invoke(app, ["ask", "-m", model, photo, "Q?", "--json-mode", "--max-tokens", "2", "--json"])
    assert result.exit_code == 10, result.output  # printed in full, but scripts can tell
    record = json.loads(result.stdout)
    assert (record["finish_reason"], record["valid"], record["parsed"]) == ("length", False, None)
    assert "not valid" in result.stderr


def test_describe_regex_on_each_input(model, tmp_path):
    photos = [str(save_photo(tmp_path / f"{i}.jpg")) for i in range(2)]
    result = runner.invoke(app, ["describe", "-m", model, *photos, "--regex", "[0-9]{2}", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2 and all(r["valid"] and len(r["text"]) == 2 and r["text"].isdigit() for r in records)


def test_schema_is_stated_in_the_prompt_unless_turned_off(monkeypatch, tmp_path):
    fake = install_fake_engine(monkeypatch)
    photo = str(save_photo(tmp_path / "a.jpg"))
    assert runner.invoke(app, ["ask", photo, "Where?", "--choice", "in", "--choice", "out"]).exit_code == 0
    assert runner.invoke(app, ["ask", photo, "Where?", "--choice", "in", "--choice", "out", "--no-schema-prompt"]).exit_code == 0
    stated, plain = (engine.calls[0][0][0] for engine in fake.engines)
    assert stated.prompt == "Where?\nAnswer with exactly one of: in, out." and plain.prompt == "Where?"
    assert stated.constraint == plain.constraint and stated.constraint.options == ("in", "out")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--choice", "a", "--json-mode"], "--choice and --json-mode cannot be combined"),
        (["--schema", "{oops"], "--schema is not valid JSON"),
        (["--regex", "(x"], "not a valid regular expression"),
    ],
)
def test_flag_mistakes_exit_2_before_loading(monkeypatch, tmp_path, flags, message):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", str(save_photo(tmp_path / "a.jpg")), "Q?", *flags])
    assert result.exit_code == 2 and message in result.stderr
    assert not fake.engines


def test_caption_dir_rows_gain_answer_json_and_hash(model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_photo(photos / f"{i}.jpg", name=("astronaut", "coffee", "chelsea")[i])
    out = tmp_path / "tags"
    args = ["caption-dir", str(photos), "-m", model, "-o", str(out), "--format", "jsonl", "-q"]
    assert runner.invoke(app, [*args, "--choice", "indoor", "--choice", "outdoor"]).exit_code == 0
    rows = [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(rows) == 3 and all(json.loads(r["answer_json"]) == r["caption"] in ("indoor", "outdoor") for r in rows)
    free_out = tmp_path / "free"
    assert runner.invoke(app, [*args[:4], "-o", str(free_out), "--format", "jsonl", "-q", "--max-tokens", "2"]).exit_code == 0
    free = [json.loads(line) for f in free_out.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert all(r["answer_json"] is None for r in free)
    assert {r["config_hash"] for r in free}.isdisjoint({r["config_hash"] for r in rows})


def test_video_summarize_constrains_each_segment(model):
    frames, _ = render_scenes([50, 50], width=64, height=48, seed=5)
    path = write_video(Path(tempfile.mkdtemp(prefix="vlmcli-s18-")) / "two.mp4", frames, fps=25.0, gop=25)
    args = ["video-summarize", str(path), "-m", model, "--json", "--max-tokens", "8", "--frames", "2",
            "--choice", "calm", "--choice", "busy"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    segments = json.loads(result.stdout)["segments"]
    assert segments and all(s["valid"] and s["parsed"] == s["summary"] in ("calm", "busy") for s in segments)


def test_missing_extra_exits_7_naming_it(tmp_path):
    """With the grammar engine not importable, the flags fail before any model loads."""
    photo = str(save_photo(tmp_path / "a.jpg"))
    code = (
        "import sys; sys.modules['xgrammar'] = None\n"
        "from vlmcli.cli import main; sys.argv = ['vlm'] + sys.argv[1:]; main()\n"
    )
    for flags in (["--choice", "a"], ["--json-mode"]):
        done = subprocess.run([sys.executable, "-c", code, "ask", "-m", "no/such-model", photo, "Q?", *flags],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 7, done.stderr
        assert "vlmcli[structured]" in done.stderr and done.stderr.count("\n") == 1
