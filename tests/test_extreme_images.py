"""Pictures at the edges of what a model takes: a 1x1 spacer, a 16 px icon, a 4000x1 rule line,
a 20000x20 banner (all found in web scrapes). Every family either answers or refuses the
image with an `InputError` naming the limit (exit 3, an error row in caption-dir): never
"unexpected ValueError" from a processor's `smart_resize` or a RuntimeError from inside the
model (Mistral 3 cannot encode a one-token image in transformers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, Request
from vlmcli.errors import InputError
from vlmcli.media.image_input import ImageInput
from vlmcli.testing.builders import MODEL_TYPES
from vlmcli.testing.fakes import isolate_env

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(1, 1), (7, 7), (4000, 1), (20000, 20), (3, 500)]
REFUSED = {  # (family, size) -> words of the refusal; every other pair must answer
    **{(f, s): "too elongated" for f in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5",
                                         "qwen3_5_moe", "glm4v") for s in ((4000, 1), (20000, 20))},
    **{("mistral3", s): "single" for s in ((1, 1), (7, 7))},
    **{("mistral3", s): "too thin" for s in ((4000, 1), (20000, 20), (3, 500))},
    **{("lfm2_vl", s): "thumbnail" for s in ((4000, 1), (20000, 20))},
    ("lfm2_vl", (3, 500)): "too thin",
    ("idefics2", (1, 1)): "too thin",
    ("idefics2", (4000, 1)): "too thin",
}


def image(width: int, height: int) -> ImageInput:
    pixels = np.full((height, width, 3), 128, np.uint8)  # (H, W, 3)
    return ImageInput(image=Image.fromarray(pixels), source=f"{width}x{height}.png", key=f"grey-{width}x{height}")


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_every_family_answers_or_refuses_the_image(family, tiny_checkpoint):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    for size in SIZES:
        request = Request(prompt="What is it?", images=(image(*size),))
        words = REFUSED.get((family, size))
        if words is None:
            (result,) = engine.generate([request], GenerationConfig(max_tokens=2))
            assert result.visual_tokens > 0, size
            continue
        with pytest.raises(InputError) as refused:
            engine.generate([request], GenerationConfig(max_tokens=2))
        message = str(refused.value)
        assert words in message and f"{size[0]}x{size[1]}" in message and "\n" not in message, (size, message)


def test_a_rule_line_is_one_error_line_and_an_error_row(monkeypatch, tmp_path):
    """Through the CLI with the shipped Qwen3-VL: `ask` exits 3 with one line; caption-dir goes on."""
    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "scrape"
    folder.mkdir()
    Image.new("RGB", (4000, 1), "grey").save(folder / "rule.png")
    Image.new("RGB", (64, 64), "red").save(folder / "red.png")
    runner, model = CliRunner(), str(ROOT / "models" / "reference")
    asked = runner.invoke(app(), ["ask", str(folder / "rule.png"), "What is it?", "-m", model])
    assert asked.exit_code == 3 and asked.stderr.count("\n") == 1
    assert f"{folder / 'rule.png'}: a 4000x1 image is too elongated for Qwen models" in asked.stderr
    assert "unexpected" not in asked.stderr
    out = tmp_path / "out"
    done = runner.invoke(app(), ["caption-dir", str(folder), "-o", str(out), "-m", model, "-q", "--json"])
    assert done.exit_code == 9 and json.loads(done.stdout)["ok"] == 1
    import pyarrow.parquet as pq

    (row,) = [r for r in pq.read_table(out).to_pylist() if r["status"] == "error"]
    assert row["path"].endswith("rule.png") and "too elongated" in row["error"] and "unexpected" not in row["error"]


def app():
    from vlmcli.cli import app as vlm

    return vlm


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "glm4v"])
def test_a_video_of_a_thin_strip_is_refused_as_the_image_is(family, tiny_checkpoint):
    """A 2000x8 screen-capture strip decoded at 768x3: the Qwen and GLM video processors raised
    "absolute aspect ratio must be smaller than 200" (exit 1, "unexpected ValueError")."""
    from vlmcli.engine.video_input import VideoInput

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    strip = VideoInput(frames=np.full((4, 3, 768, 3), 90, np.uint8), timestamps=[0.0, 0.1, 0.2, 0.3], fps=10.0,
                       source="strip.mp4")  # (T, H, W, 3)
    with pytest.raises(InputError, match=r"strip\.mp4: its 768x3 frames are too elongated"):
        engine.generate([Request(prompt="What is it?", videos=(strip,))], GenerationConfig(max_tokens=2))
