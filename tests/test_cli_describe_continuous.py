"""`vlm describe` over several inputs with the real engine: continuous batching by default.

Each answer must be the one the input gets on its own (static, one at a time), in input
order, in text and in --json; a request the engine refuses (a prompt too long for the
context) fails alone, in both batching modes, and the run ends with exit 9; families that
cannot be continuously batched fall back and --debug says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.commands._render import Item, JsonRenderer, TextRenderer
from vlmcli.engine.events import FinishEvent, FinishReason, GenerationResult, TokenEvent
from vlmcli.testing import sample_photos

NEW_TOKENS = 10
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("VLM_MODEL", "VLM_QUANTIZE", "VLM_DEVICE", "VLM_DTYPE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, image in enumerate(sample_photos()[:3]):
        if i == 1:  # different sizes, so prompts (and answers) differ in length
            image = image.resize((image.width // 2, image.height // 3))
        path = folder / f"photo{i}.jpg"
        image.save(path, quality=92)
        paths.append(str(path))
    return paths


def describe(model: Path, inputs: list[str], *extra: str):
    args = ["describe", *inputs, "-m", str(model), "--max-tokens", str(NEW_TOKENS), "--dtype", "float32", *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "llava"])
def test_each_answer_is_the_one_it_gets_alone(family, tiny_checkpoint, photos):
    model = tiny_checkpoint(family)
    together = describe(model, photos, "--json", "--debug", "--batch-size", "2")
    assert together.exit_code == 0, together.output
    assert "[batching] continuous batching, 2 slots" in together.stderr
    alone = [json.loads(describe(model, [path], "--json").stdout) for path in photos]
    records = [json.loads(line) for line in together.stdout.splitlines()]
    assert [r["inputs"] for r in records] == [[p] for p in photos]
    assert [r["text"] for r in records] == [a["text"] for a in alone]
    assert [r["completion_tokens"] for r in records] == [a["completion_tokens"] for a in alone]
    text = describe(model, photos)
    static = describe(model, photos, "--static-batching")
    assert text.exit_code == static.exit_code == 0
    assert text.stdout == static.stdout  # streamed text, headings and order as one at a time
    assert text.stdout.count("==> ") == 3


@pytest.fixture(scope="module")
def short_context(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny Qwen2-VL with a 300-token context and no processor pixel cap of its own, so a
    large photo's prompt does not fit while a small one's does."""
    folder = tmp_path_factory.mktemp("short") / "model"
    shutil.copytree(tiny_checkpoint("qwen2_vl"), folder)
    config = json.loads((folder / "config.json").read_text())
    for table in (config, config.get("text_config", {})):
        table["max_position_embeddings"] = 300
    (folder / "config.json").write_text(json.dumps(config))
    processor = json.loads((folder / "processor_config.json").read_text())
    processor["image_processor"]["size"]["longest_edge"] = 4_000_000
    (folder / "processor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.mark.parametrize("mode", [[], ["--static-batching", "--batch-size", "3"]], ids=["continuous", "static"])
def test_a_prompt_too_long_fails_alone(short_context, photos, tmp_path, mode):
    small = tmp_path / "small.jpg"
    sample_photos()[0].resize((160, 120)).save(small)
    inputs = [photos[0], str(small), photos[0]]  # the 600x400 photo needs ~330 tokens: over 300
    result = describe(short_context, inputs, "--max-pixels", "400000", "--json", "-q", *mode)  # -q: no progress
    assert result.exit_code == 9, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["inputs"] for r in records] == [[p] for p in inputs]
    assert "text" in records[1] and records[1]["completion_tokens"] > 0
    for record in (records[0], records[2]):
        assert record["exit_code"] == 5 and "context length is 300" in record["error"]
    errors = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in errors] == [photos[0], photos[0]]
    text = describe(short_context, inputs, "--max-pixels", "400000", *mode)
    assert text.exit_code == 9
    assert text.stdout == f"==> {small} <==\n{records[1]['text']}\n"


def test_a_static_family_falls_back_and_says_why(tiny_checkpoint, photos):
    result = describe(tiny_checkpoint("qwen3_5"), photos[:2], "--debug")
    assert result.exit_code == 0, result.output
    assert "[batching] static batching (Qwen3.5: Gated DeltaNet" in result.stderr
    assert result.stdout.count("==> ") == 2


def _result(text: str) -> GenerationResult:
    return GenerationResult(
        text=text, token_ids=[1], finish_reason=FinishReason.STOP, prompt_tokens=1, visual_tokens=0, completion_tokens=1
    )


def test_text_renderer_prints_in_order_and_skips_failed_requests(tmp_path):
    out = (tmp_path / "out.txt").open("w+")
    items = [Item(inputs=(name,), heading=f"==> {name} <==") for name in "abc"]
    renderer = TextRenderer(items, stream=True, out=out)
    renderer.start()
    renderer.token(TokenEvent(index=2, token_id=5, text="see "))
    renderer.fail(0, {"error": "too long"})  # the first input failed: no heading, no blank line
    renderer.token(TokenEvent(index=1, token_id=5, text="bee"))
    renderer.token(TokenEvent(index=2, token_id=6, text="c"))  # a pending answer: printed at its turn
    renderer.finish(FinishEvent(index=2, result=_result("see c")))
    renderer.finish(FinishEvent(index=1, result=_result("bee")))
    renderer.close()
    out.seek(0)
    assert out.read() == "==> b <==\nbee\n\n==> c <==\nsee c\n"


def test_json_renderer_puts_a_failed_request_in_its_place(tmp_path):
    out = (tmp_path / "out.jsonl").open("w+")
    items = [Item(inputs=(name,)) for name in "ab"]
    renderer = JsonRenderer(items, model="m", load_s=0.0, out=out)
    renderer.start()
    renderer.finish(FinishEvent(index=1, result=_result("b")))
    renderer.fail(0, {"inputs": ["a"], "error": "too long", "exit_code": 5})
    out.seek(0)
    lines = [json.loads(line) for line in out.read().splitlines()]
    assert lines[0] == {"inputs": ["a"], "error": "too long", "exit_code": 5}
    assert lines[1]["text"] == "b" and lines[1]["inputs"] == ["b"]
