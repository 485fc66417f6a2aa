"""Continuous batching (`engine.scheduler`): every request gets the tokens it gets alone.

For every family whose cache rows can move (`Batching.CONTINUOUS`): five requests of mixed
prompt lengths and image counts through two decode slots, with end-of-sequence ids chosen
from the reference answers so that rows finish at different steps (some by EOS, some at
`max_tokens`) and newcomers join a running batch mid-way. Each answer must equal
`model.generate` on that request alone (batch 1). The other families must fall back to
static batching and say why.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.batching_mode import choose_batching
from vlmcli.engine.generate import TokenIds
from vlmcli.families import Batching, family_for_model_type
from vlmcli.testing import MODEL_TYPES, sample_photos
from vlmcli.testing.reference import hf_greedy

NEW_TOKENS = 8
CONTINUOUS = [t for t in MODEL_TYPES if family_for_model_type(t).batching is Batching.CONTINUOUS]
STATIC = [t for t in MODEL_TYPES if t not in CONTINUOUS]


@pytest.fixture(scope="module")
def photos():
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]


def mixed_requests(photos: list[ImageInput]) -> list[Request]:
    return [
        Request(prompt="What is in this picture?", images=(photos[0],)),
        Request(prompt="Which of these two photos is brighter, and why? Answer in detail.", images=(photos[1], photos[3])),
        Request(prompt="Caption.", images=(photos[2],)),
        Request(prompt="Describe the colours you see in this image, one by one.", images=(photos[3],)),
        Request(prompt="Hi", images=(photos[1],)),
    ]


def cut_at(tokens: list[int], eos: set[int]) -> list[int]:
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[: i + 1]
    return tokens


def staggering_eos(answers: list[list[int]], eos: set[int]) -> set[int]:
    """`eos` plus up to two ids from the answers that make them end at the most different steps."""
    chosen = set(eos)
    for _ in range(2):
        spread = len({len(cut_at(a, chosen)) for a in answers})
        best = max(
            ({t} for a in answers for t in a[1:]),
            key=lambda extra: len({len(cut_at(a, chosen | extra)) for a in answers}),
            default=set(),
        )
        if len({len(cut_at(a, chosen | best)) for a in answers}) > spread:
            chosen |= best
    return chosen


def load(path) -> Engine:
    return Engine.load(EngineConfig(model=str(path), device="cpu", dtype="float32"))


@pytest.mark.parametrize("family", CONTINUOUS)
def test_each_request_gets_its_batch_1_tokens(family, tiny_checkpoint, photos):
    engine = load(tiny_checkpoint(family))
    assert engine.batching(slots=2).continuous
    requests = mixed_requests(photos)
    alone = [hf_greedy(engine, [r], new_tokens=NEW_TOKENS)[0] for r in requests]
    # end-of-sequence ids taken from the answers themselves: rows end at different steps
    eos = staggering_eos(alone, set(engine.token_ids.eos))
    engine.token_ids = TokenIds(eos=frozenset(eos), pad=engine.token_ids.pad)
    expected = [cut_at(tokens, eos) for tokens in alone]
    if len({tuple(a) for a in alone}) > 1:  # (a tiny checkpoint may answer every prompt alike)
        assert len({len(e) for e in expected}) > 1

    scheduler = engine.scheduler(GenerationConfig(max_tokens=NEW_TOKENS), slots=2)
    done = {c.index: c for c in scheduler.run(iter(requests))}
    assert sorted(done) == list(range(len(requests)))
    assert all(c.error is None for c in done.values())
    assert [done[i].result.token_ids for i in range(len(requests))] == expected
    assert scheduler.stats.joins >= 3  # newcomers joined a running batch
    assert scheduler.stats.largest_batch == 2
    for i, request in enumerate(requests):
        result = done[i].result
        assert result.prompt_tokens == len(engine.adapter.prepare(request).input_ids)
        assert result.completion_tokens == len(result.token_ids)
        assert [u.source for u in result.images] == [im.source for im in request.images]


def test_finished_rows_cost_no_decode_steps(tiny_checkpoint, photos):
    """Rows leave the batch when they finish: every decoded row made a token that was kept."""
    engine = load(tiny_checkpoint("idefics3"))
    requests = mixed_requests(photos)
    scheduler = engine.scheduler(GenerationConfig(max_tokens=NEW_TOKENS), slots=3)
    results = [c.result for c in scheduler.run(requests)]
    # each row's first token comes from its prefill, every later one from one decode row-step
    assert scheduler.stats.row_steps == sum(len(r.token_ids) - 1 for r in results)


def test_seeded_sampling_does_not_depend_on_the_company(tiny_checkpoint, photos):
    engine = load(tiny_checkpoint("qwen2_vl"))
    gen = GenerationConfig(max_tokens=NEW_TOKENS, temperature=1.0, seed=7)
    requests = mixed_requests(photos)
    alone = [next(engine.serve([r], gen, slots=1)).result.token_ids for r in requests]
    together = {c.index: c.result.token_ids for c in engine.serve(requests, gen, slots=3)}
    assert [together[i] for i in range(len(requests))] == alone
    assert [r.token_ids for r in engine.generate(requests[:1], gen)] == alone[:1]  # the static loop agrees


def test_a_request_that_cannot_be_prepared_fails_alone(tiny_checkpoint, photos, monkeypatch):
    engine = load(tiny_checkpoint("idefics3"))
    requests = mixed_requests(photos)
    prepare = engine.adapter.prepare

    def broken(request):
        if request.prompt == "Caption.":
            raise ValueError("processor rejects this one")
        return prepare(request)

    monkeypatch.setattr(engine.adapter, "prepare", broken)
    gen = GenerationConfig(max_tokens=4)
    done = {c.index: c for c in engine.serve(requests, gen, slots=2, prefill_tokens=1)}
    assert isinstance(done[2].error, ValueError) and done[2].result is None
    assert {i for i in done if done[i].error is None} == {0, 1, 3, 4}


@pytest.mark.parametrize("family", STATIC)
def test_static_families_fall_back_and_say_why(family):
    mode = choose_batching(SimpleNamespace(model_type=family), slots=4)
    spec = family_for_model_type(family)
    assert not mode.continuous
    assert spec.static_because and spec.static_because in mode.describe()


def test_unmovable_cache_layers_fall_back_at_run_time():
    """A family declared continuous whose checkpoint turns on sliding-window layers."""
    from transformers import Gemma3TextConfig

    text = Gemma3TextConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, sliding_window=64, layer_types=["sliding_attention", "full_attention"],
    )
    config = SimpleNamespace(get_text_config=lambda decoder=True: text)
    mode = choose_batching(SimpleNamespace(model_type="llava", model=SimpleNamespace(config=config)), slots=4)
    assert not mode.continuous and "DynamicSlidingWindowLayer" in mode.reason


def test_asked_for_static_batching():
    mode = choose_batching(SimpleNamespace(model_type="idefics3"), slots=8, static=True)
    assert mode.describe() == "static batching (--static-batching)"


def test_rows_keep_and_join_with_left_padding():
    import torch
    from transformers import DynamicCache

    from vlmcli.engine.kv_ops import RunningBatch, join, keep_rows

    def batch(lengths: list[int], width: int, start: float) -> RunningBatch:
        cache = DynamicCache()
        keys = torch.zeros(len(lengths), 1, width, 2)  # (B, H, T, D)
        mask = torch.zeros(len(lengths), width, dtype=torch.long)  # (B, T)
        for i, n in enumerate(lengths):
            keys[i, 0, width - n :] = start + i + 1
            mask[i, width - n :] = 1
        cache.update(keys, keys.clone(), 0)
        return RunningBatch(cache=cache, mask=mask, positions=(mask.sum(1, keepdim=True) - 1))  # (B, 1)

    running = keep_rows(batch([5, 2, 3], 5, 0.0), [1, 2])  # the 5-long row leaves: 2 padding columns go
    assert running.mask.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert running.cache.layers[0].keys[:, 0, :, 0].tolist() == [[0, 2, 2], [3, 3, 3]]
    joined = join(running, batch([4], 4, 10.0))
    assert joined.mask.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]]
    assert joined.cache.layers[0].keys[:, 0, :, 0].tolist() == [[0, 0, 2, 2], [0, 3, 3, 3], [11, 11, 11, 11]]
    assert joined.positions.tolist() == [[1], [2], [3]]


def test_constrained_rows_match_the_static_loop(tiny_checkpoint, photos):
    """A stream mixing constrained and free rows: each row as the static loop gives it alone."""
    pytest.importorskip("xgrammar")
    from vlmcli.structured import ChoiceConstraint, RegexConstraint

    engine = load(tiny_checkpoint("qwen2_vl"))
    gen = GenerationConfig(max_tokens=24)
    requests = [
        Request(prompt="Tag it.", images=(photos[0],), constraint=ChoiceConstraint(("indoor", "outdoor", "animal"))),
        Request(prompt="What is in this picture?", images=(photos[1],)),
        Request(prompt="When?", images=(photos[2],), constraint=RegexConstraint(r"[0-9]{4}-[0-9]{2}")),
        Request(prompt="Tag this one.", images=(photos[3],), constraint=ChoiceConstraint(("cat", "dog", "car"))),
    ]
    alone = [engine.generate([r], gen)[0] for r in requests]
    done = {c.index: c.result for c in engine.serve(requests, gen, slots=2)}
    for i, expected in enumerate(alone):
        got = done[i]
        assert (got.token_ids, got.text, got.valid, got.finish_reason) == (
            expected.token_ids, expected.text, expected.valid, expected.finish_reason
        )
    assert done[0].valid and done[2].valid and done[3].valid
