"""Each command's `--help` says what its shared options do for it, and names its inputs.

`--dry-run`, `--no-stream`, `--json`, `--frames` and `--max-frames` are declared once
(`commands/options.py`, `video_options.py`); `vlm ask --help` explained them with what
caption-dir and video-summarize do. Each command now gives its own text (`helps=`)."""

from __future__ import annotations

import re

import pytest
import typer.main

from vlmcli.cli import app
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import CommonOptions

GROUP = typer.main.get_command(app)
MODEL_COMMANDS = ("ask", "describe", "caption-dir", "video-summarize")
SHARED = ("--dry-run", "--no-stream", "--json", "--frames", "--max-frames")


def _option_help(command: str, flag: str) -> str:
    sub = GROUP.commands[command]  # type: ignore[attr-defined]
    ctx = sub.context_class(sub, info_name=command)
    (param,) = [p for p in sub.params if flag in p.opts]
    return param.get_help_record(ctx)[1]


@pytest.mark.parametrize("command", MODEL_COMMANDS)
@pytest.mark.parametrize("flag", SHARED)
def test_a_shared_option_names_no_other_command(command, flag):
    others = [c for c in MODEL_COMMANDS if c != command]
    text = re.sub(r"vlm [\w-]+ --help", "", _option_help(command, flag))  # a pointer to where fields are listed
    assert [c for c in others if re.search(rf"(?<![\w-]){c}(?![\w-])", text)] == [], text


def test_each_command_says_what_it_does_with_them():
    assert "32" in _option_help("ask", "--max-frames") and "8" in _option_help("caption-dir", "--max-frames")
    assert "segment" in _option_help("video-summarize", "--max-frames")
    assert "loads the model" in _option_help("caption-dir", "--dry-run")
    assert "no weights are loaded" in _option_help("ask", "--dry-run")
    assert "docs/caption-dir.md" in _option_help("caption-dir", "--json")


def test_batch_defaults_name_mps():
    """MPS gets 8 slots and 16384 visual tokens per call (`captions.batching`); help said CPU and CUDA only."""
    from vlmcli.captions.batching import AUTO_BATCH_SIZE, AUTO_MAX_BATCH_TOKENS

    tokens = _option_help("caption-dir", "--max-batch-tokens")
    assert all(f"{n} on {d.upper()}" in tokens for d, n in AUTO_MAX_BATCH_TOKENS.items()), tokens
    assert f"{AUTO_BATCH_SIZE['mps']} on CPU or MPS" in _option_help("caption-dir", "--batch-size")
    assert f"{AUTO_BATCH_SIZE['mps']} on a CPU or MPS" in _option_help("describe", "--batch-size")


def _argument_help(command: str) -> str:
    sub = GROUP.commands[command]  # type: ignore[attr-defined]
    return next(p for p in sub.params if p.name == "inputs").help


@pytest.mark.parametrize("command", ["ask", "describe"])
def test_ask_and_describe_inputs_name_pdfs_and_dataset_items(command):
    text = _argument_help(command)
    assert "PDF" in text and "::" in text and "stdin" in text


def test_caption_dir_inputs_name_every_kind():
    text = _argument_help("caption-dir")
    for kind in ("Folders", "tars", "zips", "Parquet", "save_to_disk", "CSV/TSV", "JSON", "PDFs", "--videos"):
        assert kind in text, kind


def test_an_unknown_option_in_helps_is_refused():
    with pytest.raises(TypeError, match="no option jsn"):
        with_option_group(CommonOptions, "opts", helps={"jsn": "typo"})(lambda opts: None)
