"""Batching of caption requests: grouped by visual tokens, capped by count and by tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmcli.captions.batching import (
    AUTO_MAX_BATCH_TOKENS,
    auto_max_batch_tokens,
    group_batches,
    padding,
    pixel_tokens,
)
from vlmcli.captions.config import Backend, CaptionJob, VideoCaptioning
from vlmcli.captions.pipeline import plan_batches, token_estimator
from vlmcli.captions.plan import Task
from vlmcli.captions.prompts import Prompt
from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.errors import ConfigError
from vlmcli.video.metadata import VideoInfo

PROMPT = Prompt(text="Describe.", index=0, config_hash="h")


def task(name: str, size: tuple[int, int] | None, video: VideoInfo | None = None) -> Task:
    return Task(path=name, key=name.ljust(64, "0"), size=size, prompt=PROMPT, video=video)


@settings(max_examples=200, deadline=None)
@given(
    tokens=st.lists(st.integers(0, 5000), max_size=40),
    size=st.integers(1, 9),
    cap=st.integers(1, 12000),
)
def test_batches_respect_count_and_token_caps(tokens, size, cap):
    items = list(enumerate(tokens))
    batches = group_batches(items, batch_size=size, cost=lambda i: i[1], tokens=lambda i: i[1], max_tokens=cap)
    assert sorted(i for b in batches for i in b) == sorted(items)  # a partition
    flat = [i for b in batches for i in b]
    assert [t for _, t in flat] == sorted(tokens, reverse=True)  # largest first, consecutive runs
    for k, batch in enumerate(batches):
        total = sum(t for _, t in batch)
        assert 1 <= len(batch) <= size
        assert total <= cap or len(batch) == 1  # only a single over-cap item may exceed it
        if k + 1 < len(batches):  # closed only when the next item did not fit
            nxt = batches[k + 1][0][1]
            assert len(batch) == size or total + nxt > cap


def test_large_images_travel_in_small_batches():
    tokens = [4096, 4096, 4096, 1000, 1000, 1000, 1000, 64, 64, 64, 64]
    batches = group_batches(tokens, batch_size=8, cost=int, tokens=int, max_tokens=8192)
    assert batches == [[4096, 4096], [4096, 1000, 1000, 1000, 1000, 64], [64, 64, 64]]
    alone = group_batches([20000, 10, 10], batch_size=8, cost=int, tokens=int, max_tokens=8192)
    assert alone == [[20000], [10, 10]]  # over the cap on its own: runs alone, never dropped
    assert group_batches(tokens, batch_size=4, cost=int) == [tokens[:4], tokens[4:8], tokens[8:]]


def test_grouping_by_tokens_beats_input_order_on_padding():
    tokens = [64, 4096, 64, 1000, 4096, 64, 1000, 64]
    grouped = group_batches(tokens, batch_size=4, cost=int, tokens=int, max_tokens=10**6)
    as_given = [tokens[:4], tokens[4:]]
    assert padding(grouped, cost=float) < padding(as_given, cost=float)


def test_bad_caps_are_refused():
    with pytest.raises(ValueError):
        group_batches([1], batch_size=1, cost=int, tokens=int, max_tokens=0)
    engine, gen = EngineConfig(model="m"), GenerationConfig()
    with pytest.raises(ConfigError, match="max-batch-tokens"):
        CaptionJob(engine=engine, generation=gen, inputs=("x",), max_batch_tokens=-1)
    CaptionJob(engine=engine, generation=gen, inputs=("x",), videos=VideoCaptioning(), backend=Backend.RAY)  # allowed


def test_auto_caps_by_device():
    assert auto_max_batch_tokens("cuda") == AUTO_MAX_BATCH_TOKENS["cuda"] > auto_max_batch_tokens("cpu")
    assert auto_max_batch_tokens("xpu") == AUTO_MAX_BATCH_TOKENS["cpu"]
    assert pixel_tokens((28, 28)) == 1 and pixel_tokens((4000, 3000)) == 15307 and pixel_tokens(None) == 0


class PlannedImage:
    def __init__(self, tokens: int) -> None:
        self.visual_tokens = tokens


class TiledModel:
    """A model whose planner costs 64 tokens per started 512x512 tile (SmolVLM-like)."""

    class adapter:  # noqa: N801 - the attribute the estimator looks up
        calls = 0

        @classmethod
        def plan_images(cls, sizes):
            cls.calls += 1
            return [PlannedImage(64 * -(-w // 512) * -(-h // 512)) for w, h in sizes]


def test_token_estimator_uses_the_models_planner_and_counts_video_frames():
    clip = VideoInfo(path="v.mp4", fps=25.0, frame_count=250, duration_s=10.0, width=1920, height=1080)
    tokens = token_estimator(TiledModel(), VideoCaptioning(max_side=768))
    assert tokens(task("a.jpg", (1024, 1024))) == 4 * 64
    assert tokens(task("b.jpg", (1024, 1024))) == 4 * 64  # cached by size
    assert TiledModel.adapter.calls == 1
    # a video: the default 32-frame budget x one 768x432 frame (2x1 tiles)
    assert tokens(task("v.mp4", (1920, 1080), video=clip)) == 32 * 2 * 64
    fallback = token_estimator(object(), None)
    assert fallback(task("a.jpg", (280, 280))) == 100


def test_plan_batches_keeps_videos_apart_and_caps_tokens():
    clip = VideoInfo(path="v.mp4", fps=25.0, frame_count=250, duration_s=10.0, width=64, height=48)
    tasks = [task(f"i{k}.jpg", (560, 560)) for k in range(6)]  # 400 tokens each by the fallback
    tasks += [task("v1.mp4", (64, 48), clip), task("v2.mp4", (64, 48), clip)]
    batches = plan_batches(tasks, batch_size=8, max_tokens=1000)
    kinds = [{t.video is None for t in b} for b in batches]
    assert all(len(k) == 1 for k in kinds)  # never mixed
    assert [len(b) for b in batches if b[0].video is None] == [2, 2, 2]  # 3 x 400 > 1000
    assert sorted(t.path for b in batches for t in b) == sorted(t.path for t in tasks)
