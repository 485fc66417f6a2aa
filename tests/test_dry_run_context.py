"""`ask`/`describe --dry-run` over the context: the same exit code and line as the real run.

Issue 15: a dry run whose prompt plus answer budget exceeded the context printed a total
over the limit and exited 0, while the budget was never checked at all. Now both go
through `engine.fit.prepare_batch`: prompt tokens + `--max-tokens` above the context is
exit code 5 with one line on stderr (naming `--truncate`) and nothing on stdout, with
`--json` too; with `--truncate` both lower the resolution to the same plan and warn with
the same line. Run on the shipped reference model (context 4096) and a real photo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.engine.fit import check_budget
from vlmcli.errors import ContextLengthError

REFERENCE = str(Path(__file__).resolve().parents[1] / "models" / "reference")
CONTEXT = 4096
runner = CliRunner()


@pytest.fixture()
def photo(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(path)
    return str(path)


def dry(args: list[str]):
    """A dry run that must not load weights."""
    loaded = _runtime.load_engine

    def refuse(config):
        raise AssertionError("a dry run must not load weights")

    _runtime.load_engine = refuse
    try:
        return runner.invoke(app, [*args, "--dry-run"])
    finally:
        _runtime.load_engine = loaded


def prompt_tokens(photo: str) -> int:
    result = dry(["ask", "-m", REFERENCE, photo, "What color is it?", "--json", "--max-tokens", "1"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["prompt_tokens"]


def test_budget_check_is_prompt_plus_answer():
    check_budget(prompt_tokens=4000, answer_tokens=96, limit=CONTEXT)  # exactly full: fits
    check_budget(prompt_tokens=10**6, answer_tokens=1, limit=None)  # no known limit
    with pytest.raises(ContextLengthError) as error:
        check_budget(prompt_tokens=4000, answer_tokens=97, limit=CONTEXT)
    message = str(error.value)
    assert "4000" in message and "97" in message and "4096" in message and "--truncate" in message


@pytest.mark.parametrize("as_json", [False, True])
def test_dry_run_over_the_context_exits_5_like_the_real_run(photo, as_json):
    needed = prompt_tokens(photo)
    args = ["ask", "-m", REFERENCE, photo, "What color is it?", *(["--json"] if as_json else [])]
    fits = dry([*args, "--max-tokens", str(CONTEXT - needed)])  # prompt + answer == context: fits
    assert fits.exit_code == 0, fits.output
    plan = json.loads(fits.stdout) if as_json else None
    assert plan is None or plan["total_tokens"] == plan["context_length"] == CONTEXT
    over = [*args, "--max-tokens", str(CONTEXT - needed + 1)]
    planned = dry(over)
    assert planned.exit_code == 5, planned.output
    assert planned.stdout == ""  # no plan: the real run prints nothing on stdout either
    assert planned.stderr.count("\n") == 1 and planned.stderr.startswith("Error: ")
    for needle in (str(needed), str(CONTEXT - needed + 1), str(CONTEXT), "--truncate", "--max-tokens"):
        assert needle in planned.stderr
    real = runner.invoke(app, over)
    assert real.exit_code == 5 and real.stdout == ""
    assert real.stderr == planned.stderr  # the same line, from the same check


def test_describe_dry_run_over_the_context_exits_5(photo):
    needed = prompt_tokens(photo)
    assert needed > 0
    result = dry(["describe", "-m", REFERENCE, photo, "--detail", "brief", "--max-tokens", str(CONTEXT - needed + 50)])
    assert result.exit_code == 5 and result.stdout == ""
    assert "--truncate" in result.stderr and str(CONTEXT) in result.stderr
    whole = dry(["describe", "-m", REFERENCE, photo, "--detail", "brief", "--max-tokens", str(CONTEXT)])
    assert whole.exit_code == 5 and "leaves no room for the prompt" in whole.stderr and "--truncate" not in whole.stderr


@pytest.mark.parametrize("as_json", [False, True])
def test_dry_run_with_truncate_reports_the_real_runs_lowered_resolution(photo, as_json):
    needed = prompt_tokens(photo)
    answer = CONTEXT - needed + 20  # the answer budget leaves 20 tokens too few at the default resolution
    args = ["ask", "-m", REFERENCE, photo, "What color is it?", "--max-tokens", str(answer), "--truncate"]
    planned = dry([*args, "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    truncated = plan["truncated"]
    assert truncated["needed_tokens"] == needed and truncated["answer_tokens"] == answer
    assert plan["prompt_tokens"] == truncated["prompt_tokens"] and plan["prompt_tokens"] + answer <= CONTEXT
    assert plan["total_tokens"] <= plan["context_length"] == CONTEXT
    width, height = plan["images"][0]["resized"]
    assert width * height <= truncated["max_pixels"]
    warning = planned.stderr
    assert warning.count("\n") == 1 and "--truncate lowered the resolution" in warning
    if not as_json:
        text = dry(args)
        assert text.exit_code == 0 and text.stderr == warning
        assert f"-> {width}x{height}," in text.stdout  # the lowered size is the one printed
        assert f"prompt: {plan['prompt_tokens']} tokens" in text.stdout
        return
    real = runner.invoke(app, [*args, "--json"])
    assert real.exit_code == 0, real.output
    record = json.loads(real.stdout)
    assert record["truncated"] == truncated
    assert record["prompt_tokens"] == plan["prompt_tokens"]
    assert record["images"][0]["resized"] == plan["images"][0]["resized"]
    assert real.stderr == warning


def test_truncate_cannot_make_room_for_an_answer_as_long_as_the_context(photo):
    args = ["ask", "-m", REFERENCE, photo, "q", "--max-tokens", str(CONTEXT), "--truncate"]
    for result in (dry(args), dry([*args, "--json"])):
        assert result.exit_code == 5 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "lower --max-tokens" in result.stderr


def test_an_answer_budget_past_the_whole_context_names_max_tokens_only():
    """`--max-tokens 100000` was told to lower --max-pixels or --max-tiles, use fewer images or
    pass --truncate: none of them can help."""
    with pytest.raises(ContextLengthError) as caught:
        check_budget(prompt_tokens=106, answer_tokens=100_000, limit=CONTEXT)
    assert str(caught.value) == (
        "--max-tokens 100000 leaves no room for the prompt in the model's context length (4096 tokens), whatever the "
        "resolution; lower --max-tokens (this prompt needs 106: at most 3990)."
    )
