"""Video frames 1 or 3 pixels tall (a banner or ticker strip decoded small) reach the model
the right way up. transformers guesses where a video's channels are from its sizes, and a
(T, 3, W, 3) clip looks channels-first: 13 families read such frames as 3-wide, W-tall
pictures, with a warning on stderr. `unambiguous_frames` hands those clips over
channels-first, which is exactly what each processor gives when told the real layout."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, Request
from vlmcli.engine.video_input import VideoInput, unambiguous_frames
from vlmcli.testing.builders import MODEL_TYPES

AMBIGUOUS = ("smolvlm", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "llava_onevision", "internvl",
             "llava_next_video", "qwen3_5", "qwen3_5_moe", "glm4v", "molmo2", "gemma4", "gemma4_unified")


def clip(height: int, width: int = 500) -> np.ndarray:
    return np.random.default_rng(height).integers(0, 255, (4, height, width, 3), dtype=np.uint8)  # (T, H, W, 3)


def test_only_ambiguous_clips_change():
    assert unambiguous_frames(clip(3)).shape == (4, 3, 3, 500)
    assert unambiguous_frames(clip(1)).shape == (4, 3, 1, 500)
    ordinary = clip(4)
    assert unambiguous_frames(ordinary) is ordinary


@pytest.mark.parametrize("family", [f for f in AMBIGUOUS if f in MODEL_TYPES])
def test_processors_read_thin_frames_as_told(family, tiny_checkpoint):
    processor = AutoProcessor.from_pretrained(tiny_checkpoint(family)).video_processor
    frames = clip(3)
    told = processor(videos=[frames], input_data_format="channels_last", return_tensors="pt", do_sample_frames=False)
    ours = processor(videos=[unambiguous_frames(frames)], return_tensors="pt", do_sample_frames=False)
    key = next(k for k in told if k.startswith("pixel_values"))
    assert torch.equal(told[key], ours[key])


def test_the_engine_gives_no_warning(tiny_checkpoint, caplog):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint("smolvlm")), device="cpu", dtype="float32"))
    video = VideoInput(frames=clip(3), timestamps=(0.0, 0.5, 1.0, 1.5), fps=2.0)
    with caplog.at_level(logging.WARNING, logger="transformers"):
        (result,) = engine.generate([Request(prompt="What?", videos=(video,))], GenerationConfig(max_tokens=2))
    assert result.visual_tokens > 0 and not [r for r in caplog.records if "ambiguous" in r.getMessage()]
