"""`vlm describe` over several inputs when a file goes bad after its check.

describe checks (decodes and drops) each input before the model loads and decodes it again
when the engine takes it (`_inputs.DecodedWhenTaken`). A file deleted or rewritten in between
(a sync tool, a camera still writing) must fail alone, as it would have at the check: its
`Error:` line, its --json error object in its place, the others described, exit 9; in
continuous batching, static batching and the dry run alike.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.request import Request
from vlmcli.errors import InputError
from vlmcli.testing import sample_photos

runner = CliRunner()
describe_module = importlib.import_module("vlmcli.commands.describe")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("VLM_MODEL", "VLM_QUANTIZE", "VLM_DEVICE", "VLM_DTYPE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def photos(tmp_path) -> list[str]:
    paths = []
    for i, image in enumerate(sample_photos()[:4]):
        path = tmp_path / f"p{i}.jpg"
        image.resize((image.width // 4, image.height // 4)).save(path, quality=90)
        paths.append(str(path))
    return paths


def _spoiled_after_check(monkeypatch, victim: str, spoil) -> None:
    """`spoil(victim)` right after describe's check decoded it (before the model loads)."""
    checked = describe_module.check_each

    def check_each(sources, **load):
        for source, entry in zip(sources, checked(sources, **load)):
            if source == victim:
                spoil(Path(victim))
            yield entry

    monkeypatch.setattr(describe_module, "check_each", check_each)


def _delete(path: Path) -> None:
    path.unlink()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _describe(model: Path, inputs: list[str], *extra: str):
    args = ["describe", *inputs, "-m", str(model), "--max-tokens", "4", "--dtype", "float32", *extra]
    return runner.invoke(app, args)


MODES = {
    "continuous": ["--batch-size", "2"],
    "static": ["--static-batching", "--batch-size", "2"],
    "dry-run": ["--dry-run"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_file_deleted_after_its_check_fails_alone_in_json(mode, tiny_checkpoint, photos, monkeypatch):
    victim = photos[1]
    _spoiled_after_check(monkeypatch, victim, _delete)
    result = _describe(tiny_checkpoint("qwen2_vl"), photos, "--json", *MODES[mode])
    assert result.exit_code == 9, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [_named(r) for r in records] == photos  # in input order, the error object in its place
    assert records[1]["exit_code"] == 3 and records[1]["error"].startswith(f"No such file: {victim}")
    assert all("error" not in r for i, r in enumerate(records) if i != 1)
    assert _errors(result) == [f"Error: No such file: {victim}"]  # named once, as the check says it


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def _named(record: dict) -> str:
    """The input a --json record is about: an answer's or error's `inputs`, a plan's image."""
    return record["inputs"][0] if "inputs" in record else record["images"][0]["path"]


@pytest.mark.parametrize("mode", ["continuous", "static"])
def test_a_file_truncated_after_its_check_fails_alone_in_text(mode, tiny_checkpoint, photos, monkeypatch):
    victim = photos[2]
    _spoiled_after_check(monkeypatch, victim, _truncate)
    result = _describe(tiny_checkpoint("qwen2_vl"), photos, *MODES[mode])
    assert result.exit_code == 9, result.output
    headings = [line for line in result.stdout.splitlines() if line.startswith("==> ")]
    assert headings == [f"==> {p} <==" for p in photos if p != victim]
    errors = _errors(result)
    assert len(errors) == 1 and errors[0].startswith("Error: ") and victim in errors[0]
    assert errors[0].count(victim) == 1


class _Taken(list):
    """A sequence whose item 1 went bad since it was checked, as `DecodedWhenTaken` raises it."""

    def __getitem__(self, index):
        if index == 1:
            raise InputError("No such file: b.jpg")
        return super().__getitem__(index)


def test_the_scheduler_reads_past_an_item_that_cannot_be_taken():
    from vlmcli.engine.scheduler import _numbered

    requests = _Taken(Request(prompt=p) for p in "abc")
    numbered = list(_numbered(requests))
    assert [index for index, _ in numbered] == [0, 1, 2]
    assert isinstance(numbered[1][1], InputError)
    assert [r.prompt for _, r in (numbered[0], numbered[2])] == ["a", "c"]
