"""`describe --dry-run` over several inputs, one of which the model refuses: the dry run says it
as the real run does and plans the others.

A stranger's walk found the dry run stopping at the first input the planning refused (a
4000x10 strip Qwen cannot take: exit 3, the `Error:` line not naming the file; a prompt over
the context: exit 5, nothing printed) while the real run gave that input its own `Error:` line
naming it (with --json an error object in its place), described the others and exited 9. Both
now go through `_generate.fails_alone`. `ask` is one request: the whole request fails, in the
dry run as in the real run, with the same exit code and the refused file named.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands import _runtime
from vlmcli.testing.fakes import isolate_env

runner = CliRunner()


@pytest.fixture
def pictures(tmp_path, monkeypatch) -> dict[str, str]:
    isolate_env(monkeypatch, tmp_path)
    monkeypatch.setenv("VLM_DEVICE", "cpu")
    sizes = {"big.png": (1600, 1600), "rule.png": (4000, 10), "small.png": (64, 64)}
    paths = {}
    for name, size in sizes.items():
        Image.new("RGB", size, (200, 40, 40)).save(tmp_path / name)
        paths[name] = str(tmp_path / name)
    paths["missing.png"] = str(tmp_path / "missing.png")
    return paths


def dry(monkeypatch, args: list[str]):
    with monkeypatch.context() as patch:
        patch.setattr(_runtime, "load_engine", lambda config: pytest.fail("--dry-run loads no weights"))
        return runner.invoke(app, [*args, "--dry-run"])


@pytest.mark.parametrize("as_json", [False, True])
def test_describe_dry_run_says_a_refused_picture_as_the_run_does(tiny_checkpoint, pictures, monkeypatch, as_json):
    model = str(tiny_checkpoint("qwen2_vl"))
    names = ["small.png", "rule.png", "missing.png", "big.png"]
    args = ["describe", "-m", model, *(pictures[n] for n in names), "--max-tokens", "2", *(["--json"] if as_json else [])]
    planned = dry(monkeypatch, args)
    real = runner.invoke(app, [*args, "-q"])  # -q: without the progress lines of a run over several inputs
    assert planned.exit_code == real.exit_code == 9, (planned.output, real.output)
    assert sorted(planned.stderr.splitlines()) == sorted(real.stderr.splitlines())
    refused = [line for line in planned.stderr.splitlines() if "too elongated" in line]
    assert refused == [f"Error: {pictures['rule.png']}: " + refused[0].split(": ", 2)[2]]  # names the file
    if as_json:
        plans = [json.loads(line) for line in planned.stdout.splitlines()]
        answers = [json.loads(line) for line in real.stdout.splitlines()]
        assert [p.get("error") for p in plans] == [a.get("error") for a in answers]  # error objects in their places
        assert [p["images"][0]["path"] for p in plans if "error" not in p] == [pictures["small.png"], pictures["big.png"]]
        assert [p["exit_code"] for p in plans if "error" in p] == [3, 3]
    else:
        assert [line.split(":")[0] for line in planned.stdout.splitlines() if not line.startswith("prompt:")] == [
            pictures["small.png"],
            pictures["big.png"],
        ]


def test_describe_dry_run_one_input_over_the_context_fails_alone(tiny_checkpoint, pictures, monkeypatch):
    model = str(tiny_checkpoint("qwen2_vl"))
    alone = dry(monkeypatch, ["describe", "-m", model, pictures["small.png"], "--max-tokens", "1", "--json"])
    plan = json.loads(alone.stdout)
    budget = plan["context_length"] - plan["prompt_tokens"]  # small.png fits exactly; big.png's prompt is longer
    args = ["describe", "-m", model, pictures["big.png"], pictures["small.png"], "--max-tokens", str(budget)]
    text = dry(monkeypatch, args)
    assert text.exit_code == 9, text.output
    (line,) = text.stderr.splitlines()
    assert line.startswith(f"Error: {pictures['big.png']}: The prompt needs ") and "context length" in line
    assert text.stdout.startswith(f"{pictures['small.png']}: 64x64")
    as_json = dry(monkeypatch, [*args, "--json"])
    error, planned = (json.loads(line) for line in as_json.stdout.splitlines())
    assert error["path"] == pictures["big.png"] and error["exit_code"] == 5
    assert planned["images"][0]["path"] == pictures["small.png"] and planned["total_tokens"] == planned["context_length"]
    assert as_json.exit_code == 9
    single = dry(monkeypatch, ["describe", "-m", model, pictures["big.png"], "--max-tokens", str(budget)])
    assert single.exit_code == 5 and single.stdout == ""  # one input keeps its own code, as the real run


def test_ask_dry_run_names_the_refused_picture_with_the_real_runs_code(tiny_checkpoint, pictures, monkeypatch):
    model = str(tiny_checkpoint("qwen2_vl"))
    args = ["ask", "-m", model, pictures["small.png"], pictures["rule.png"], "What is it?", "--max-tokens", "2"]
    for extra in ([], ["--json"]):
        planned = dry(monkeypatch, [*args, *extra])
        real = runner.invoke(app, [*args, *extra])
        assert planned.exit_code == real.exit_code == 3, (planned.output, real.output)
        assert planned.stdout == real.stdout == ""
        assert planned.stderr == real.stderr
        assert planned.stderr.startswith(f"Error: {pictures['rule.png']}: ") and "too elongated" in planned.stderr


def test_describe_of_one_refused_picture_names_it(tiny_checkpoint, pictures, monkeypatch):
    """One input, refused for its size: its `Error:` line names the file, as ask's does (was
    `Error: A 4000x10 image is too elongated ...`, naming none), in the dry run and the run."""
    args = ["describe", "-m", str(tiny_checkpoint("qwen2_vl")), pictures["rule.png"], "--max-tokens", "2"]
    for result in (dry(monkeypatch, args), runner.invoke(app, args)):
        assert result.exit_code == 3, result.output
        assert result.stderr.startswith(f"Error: {pictures['rule.png']}: a 4000x10 image"), result.stderr
