"""What each family's model is shown, pinned: prompt tokens and pixel tensors for one image and one clip.

A transformers release can change what a processor writes without any error: 5.23 kept an
extra `<|vision_start|>`/`<|vision_end|>` pair around Qwen3-VL's per-frame video blocks, 5.25
dropped it, and the reference model (trained on the old layout) lost 12 points on clips
(bench/RESULTS.md, "transformers drift"). This test prepares one fixed image and one fixed
clip for every family's tiny checkpoint through the engine's adapter and compares the
prompt (decoded, runs of one token collapsed), its token ids (hash) and the pixel tensors
(shape, mean, mean absolute value) with `tests/golden/prepared_inputs.json`.

After a deliberate change, rewrite the file and review its diff:

    VLM_UPDATE_GOLDEN=1 python -m pytest -q tests/test_prepared_inputs_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from vlmcli.testing import MODEL_TYPES

GOLDEN = Path(__file__).parent / "golden" / "prepared_inputs.json"
UPDATE = os.environ.get("VLM_UPDATE_GOLDEN") == "1"
PIXEL_RTOL = 1e-4
"""Pixel statistics are float sums over resampled images: allow for summation order."""


def _inputs():
    import numpy as np
    from PIL import Image

    from vlmcli.engine import ImageInput, Request
    from vlmcli.engine.video_input import VideoInput

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))
    frames = rng.integers(0, 255, (8, 96, 128, 3), dtype=np.uint8)  # (T, H, W, 3)
    clip = VideoInput(frames=frames, timestamps=tuple(i * 0.5 for i in range(8)), fps=2.0, source="clip")
    video = Request(prompt="What happens?", videos=(clip,))
    return {  # kind -> (request, --temporal-pool): pooling rewrites the prompt through the processor's offsets
        "image": (Request(prompt="What is this?", images=(ImageInput(image, source="image"),)), "off"),
        "video": (video, "off"),
        "video, temporal-pool 2": (video, "2"),
    }


def _collapsed(tokenizer: Any, ids: list[int]) -> str:
    """The prompt as text, a run of one repeated token written once with its count: `<tok>*16`."""
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j < len(ids) and ids[j] == ids[i]:
            j += 1
        text = tokenizer.decode([ids[i]])
        parts.append(text if j - i == 1 else f"{text}*{j - i}")
        i = j
    return re.sub(r"\s+", " ", "".join(parts))


def _pixels(items: list[Any]) -> dict[str, list]:
    out: dict[str, list] = {}
    for n, item in enumerate(items):
        for name, value in item.inputs.items():
            if hasattr(value, "dtype") and value.dtype.is_floating_point:
                v = value.double()
                out[f"{n}.{name}"] = [list(v.shape), round(float(v.mean()), 6), round(float(v.abs().mean()), 6)]
    return out


def _describe(model_dir: Path, request: Any, temporal_pool: str) -> dict[str, Any]:
    from vlmcli.engine import Engine, EngineConfig
    from vlmcli.reduction.reducer import TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool

    reduction = TokenReduction(temporal=parse_temporal_pool(temporal_pool))
    engine = Engine.load(EngineConfig(model=str(model_dir), device="cpu", dtype="float32", reduction=reduction))
    prepared = engine.adapter.prepare(request)
    ids = [int(i) for i in prepared.input_ids.flatten()]
    return {
        "tokens": len(ids),
        "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16],
        "prompt": _collapsed(engine.adapter.processor.tokenizer, ids),
        "pixels": _pixels([*prepared.images, *prepared.videos]),
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    yield data
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(data.items())), indent=1, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("family", sorted(MODEL_TYPES))
def test_what_the_model_is_shown_is_pinned(family: str, tiny_checkpoint, golden) -> None:
    requests = _inputs()
    got = {kind: _describe(tiny_checkpoint(family), request, pool) for kind, (request, pool) in requests.items()}
    if UPDATE:
        golden[family] = got
        return
    assert family in golden, f"no golden for {family}: run with VLM_UPDATE_GOLDEN=1 and review the diff"
    for kind, want in golden[family].items():
        have = got[kind]
        assert have["prompt"] == want["prompt"], f"{family} {kind}: the prompt the model is shown changed"
        assert have["tokens"] == want["tokens"] and have["ids_sha256"] == want["ids_sha256"], f"{family} {kind}: token ids changed"
        assert have["pixels"].keys() == want["pixels"].keys(), f"{family} {kind}: pixel tensors changed"
        for name, (shape, mean, abs_mean) in want["pixels"].items():
            h_shape, h_mean, h_abs = have["pixels"][name]
            assert h_shape == shape, f"{family} {kind} {name}: shape {h_shape} != {shape}"
            assert h_abs == pytest.approx(abs_mean, rel=PIXEL_RTOL, abs=1e-6), f"{family} {kind} {name}: pixel values changed"
            assert h_mean == pytest.approx(mean, rel=PIXEL_RTOL, abs=1e-5), f"{family} {kind} {name}: pixel values changed"
