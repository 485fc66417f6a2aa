"""The synthetic world behind the reference model: deterministic, well-formed, held out."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from models.world import IMAGE_TASK_NAMES, TASK_NAMES, VIDEO_TASK_NAMES, make_example, suite
from models.world.evaluate import Setting, default_settings, exact_match
from models.world.examples import Event
from models.world.frames import open_array, save_clip, training_indices
from models.world.vocab import QUESTIONS, answer_space


def digest(example) -> str:
    pixels = np.asarray(example.image) if example.image is not None else example.frames
    return hashlib.sha256(pixels.tobytes() + example.question.encode()).hexdigest()


@pytest.mark.parametrize("task", TASK_NAMES)
def test_examples_are_a_pure_function_of_the_seed(task):
    a, b = make_example(task=task, index=5), make_example(task=task, index=5)
    assert digest(a) == digest(b) and a.answer == b.answer and a.caption == b.caption
    assert digest(make_example(task=task, index=5, seed=1)) != digest(a)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_answers_are_short_and_in_the_answer_space(task):
    examples = suite(split="train", per_task=30, tasks=[task])
    assert all(e.answer in answer_space(task) and e.task == task for e in examples)
    assert all(e.question.endswith("?") and e.caption for e in examples)
    assert len({e.answer for e in examples}) > 1  # the answer really varies


def test_heldout_never_repeats_a_training_example():
    train = {digest(e) for e in suite(split="train", per_task=25)}
    heldout = {digest(e) for e in suite(split="heldout", per_task=25)}
    assert not train & heldout


def test_every_task_has_a_question_and_a_kind():
    assert set(TASK_NAMES) == set(QUESTIONS)
    assert set(IMAGE_TASK_NAMES).isdisjoint(VIDEO_TASK_NAMES)
    for task in IMAGE_TASK_NAMES:
        assert make_example(task=task, index=0).image.mode == "RGB"
    for task in VIDEO_TASK_NAMES:
        example = make_example(task=task, index=0)
        assert example.frames.shape == (64, 128, 128, 3) and example.events


def test_flash_frames_are_the_flash_colour():
    example = make_example(task="flash", index=3)
    (event,) = example.events
    from models.world.vocab import COLORS

    assert (example.frames[event.start] == np.array(COLORS[example.answer], np.uint8)).all()
    assert not (example.frames[event.start - 1] == np.array(COLORS[example.answer], np.uint8)).all()


def test_training_frames_always_show_the_events():
    for index in range(40):
        example = make_example(task="order", index=index)
        rng = np.random.default_rng(index)
        indices = training_indices(rng, frame_count=64, n=8, example=example)
        assert len(indices) == 8 and list(indices) == sorted(set(indices))
        assert all(e.seen_by(indices) for e in example.events)


def test_array_reader_feeds_the_real_samplers(tmp_path):
    from vlmcli.video.sample import sample_video
    from vlmcli.video.sampling import SamplingOptions

    example = make_example(task="flash", index=1, split="heldout")
    path = save_clip(example, tmp_path / "clip.npz")
    sampled = sample_video(path, method="keyframe", options=SamplingOptions(frames=8), opener=open_array)
    assert len(sampled.plan) == 8 and sampled.frames.pixels.shape == (8, 128, 128, 3)
    assert example.events[0].seen_by(sampled.plan.indices)  # the flash is a scene of its own
    assert sampled.info.fps == example.fps and sampled.info.frame_count == 64


def test_event_spans_and_scoring():
    assert Event(name="x", start=2, stop=4).seen_by((0, 3)) and not Event(name="x", start=2, stop=4).seen_by((4,))
    with pytest.raises(ValueError):
        Event(name="x", start=3, stop=3)
    assert exact_match(" Red.\n", "red") and not exact_match("red square", "red")


def test_settings_cover_every_option_once():
    names = [s.name for s in default_settings()]
    assert len(names) == len(set(names))
    for needle in ("full tokens", "pool:2", "perceiver:", "max_pixels", "temporal-pool", "uniform 8", "keyframe 8", "dynamic 8"):
        assert any(needle in n for n in names), needle
    with pytest.raises(ValueError):
        Setting(name="mixed", tasks=("color", "flash"))


def test_questions_are_fixed_per_task_and_answers_vary_with_the_picture():
    for task in TASK_NAMES:
        examples = suite(split="heldout", per_task=20, tasks=[task])
        assert {e.question for e in examples} == {QUESTIONS[task]}
        assert len({e.answer for e in examples}) >= 2


def test_training_clips_use_qwen3_vl_layout_without_the_outer_pair():
    """One `<|vision_start|>`/`<|vision_end|>` per temporal block, as the engine writes it, in any transformers."""
    from models.world.batches import encode
    from models.world.model import world_processor, world_tokenizer

    processor = world_processor(world_tokenizer())
    example = make_example(task="flash", index=0)
    encoded = encode(processor, example, frame_indices=tuple(range(0, 64, 8)))  # 8 frames: 4 temporal blocks
    ids = encoded.input_ids.tolist()
    start, end = (processor.tokenizer.convert_tokens_to_ids(t) for t in (processor.vision_start_token, processor.vision_end_token))
    assert ids.count(start) == ids.count(end) == 4


def test_the_training_stream_can_continue_past_a_step():
    from models.train_reference import draw_batch, prefetched
    from models.world.model import world_processor, world_tokenizer

    processor = world_processor(world_tokenizer())
    tasks = ["color", "flash"]
    continued = list(prefetched(seed=0, steps=2, batch=2, tasks=tasks, workers=0, first=3))
    for got, step in zip(continued, (3, 4)):
        want = draw_batch(processor, seed=0, step=step, batch=2, tasks=tasks)
        assert [g.input_ids.tolist() for g in got] == [w.input_ids.tolist() for w in want]
