"""`vlm ... --help` at any terminal width: flag and command names never broken across lines
(`--max-⏎pixels`, `caption-⏎dir`), example commands and config-file lines shown whole.

The pages are rendered as `--help` renders them, with $COLUMNS set (Typer's CliRunner forces
80 columns)."""

from __future__ import annotations

import re

import pytest
import typer.main

from vlmcli.cli import app

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]
WIDTHS = (60, 80, 100)
_BROKEN = re.compile(r"[A-Za-z]-$")  # `--max-`, `caption-`, `--summary-`: a name cut at its hyphen


def _help(args: list[str], columns: int) -> str:
    """`vlm [COMMAND] --help` at `COLUMNS=columns`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", str(columns))
        root = GROUP.context_class(GROUP, info_name="vlm")
        if not args:
            return GROUP.get_help(root)
        command = GROUP.commands[args[0]]  # type: ignore[attr-defined]
        return command.get_help(command.context_class(command, info_name=args[0], parent=root))


def _kept_lines(command: str) -> list[str]:
    """The lines an epilog writes indented (examples, a config file's lines): each must show whole."""
    epilog = GROUP.commands[command].epilog or ""  # type: ignore[attr-defined]
    return [line.strip() for line in epilog.splitlines() if line.startswith("  ") and line.strip()]


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_no_line_ends_inside_a_hyphenated_name(command, columns):
    text = _help([command] if command else [], columns)
    broken = [
        (line, following)
        for line, following in zip(text.splitlines(), text.splitlines()[1:] + [""])
        if _BROKEN.search(line.rstrip())
    ]
    assert broken == [], broken


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS)
def test_example_lines_stay_whole(command, columns):
    shown = {line.strip() for line in _help([command], columns).splitlines()}
    kept = _kept_lines(command)
    assert [line for line in kept if line not in shown] == []


def test_the_commands_with_examples_have_them_checked():
    """The check above sees the examples of every command that has any (and config's file lines)."""
    with_examples = {c for c in COMMANDS if _kept_lines(c)}
    assert {"ask", "describe", "caption-dir", "video-summarize", "export", "config"} <= with_examples


@pytest.mark.parametrize(
    ("command", "flag"),
    [("ask", "--max-pixels"), ("describe", "--batch-size"), ("describe", "--static-batching"),
     ("video-summarize", "--summary-prompt"), ("export", "--prompt-name")],
)
def test_the_flags_the_walk_saw_broken_are_whole(command, flag):
    """Each was printed as `--max-⏎pixels` etc. at 80 or 100 columns."""
    for columns in WIDTHS:
        text = _help([command], columns)
        assert flag in text and f"{flag.rsplit('-', 1)[0]}-\n" not in text


def test_config_file_lines_are_one_block():
    """`vlm config --help` showed each TOML line as its own paragraph, blank lines between."""
    text = _help(["config"], 80)
    assert 'model = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"\n    device = "cuda"\n' in text
    assert '[caption-dir]\n    choice = ["indoor", "outdoor"]\n' in text
