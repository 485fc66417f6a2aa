"""Fast unit tests of the engine's pure pieces (no model weights)."""

from __future__ import annotations

import pytest
import torch

from vlmcli.engine.adapters.base import PreparedRequest
from vlmcli.engine.adapters.idefics3 import tiles_per_image
from vlmcli.engine.batch import collate
from vlmcli.engine.cache import FeatureCache, feature_key
from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.engine.detok import TextStream
from vlmcli.engine.sampling import apply_repetition_penalty, choose_next, make_generators, warp
from vlmcli.engine.source import looks_like_path
from vlmcli.errors import ConfigError


class CharTokenizer:
    """Token i is chr(i); id 0 is a special token skipped on decode."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids if i != 0)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"top_k": -1}, {"repetition_penalty": 0}],
)
def test_generation_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        GenerationConfig(**kwargs)


def test_engine_config_validates_enums():
    with pytest.raises(ConfigError, match="device must be one of"):
        EngineConfig(model="x", device="tpu")
    with pytest.raises(ConfigError):
        EngineConfig(model=" ")


@pytest.mark.parametrize(
    "model,is_path",
    [("org/name", False), ("name", False), ("./m", True), ("/abs/m", True), ("~/m", True), ("a/b/c", True)],
)
def test_hub_id_or_path(model, is_path):
    assert looks_like_path(model) is is_path


def test_text_stream_holds_back_a_possible_stop_string():
    stream = TextStream(CharTokenizer(), stop=("END",))
    shown = [stream.push(ord(c)) for c in "abcEN"]
    assert "".join(shown) == "abc"  # "EN" might start "END"
    assert stream.push(ord("D")) == "" and stream.stopped
    assert stream.text == "abc"


def test_text_stream_releases_a_false_alarm():
    stream = TextStream(CharTokenizer(), stop=("END",))
    out = "".join(stream.push(ord(c)) for c in "aENx") + stream.finish()
    assert out == "aENx" and not stream.stopped


def test_text_stream_skips_special_tokens():
    stream = TextStream(CharTokenizer())
    out = "".join(stream.push(t) for t in [ord("h"), 0, ord("i")]) + stream.finish()
    assert out == "hi" == stream.text


def test_repetition_penalty_matches_transformers():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    torch.manual_seed(0)
    logits = torch.randn(2, 20)
    seen = torch.tensor([[3, 5, 5, 7], [1, 2, 3, 4]])
    ours = apply_repetition_penalty(logits.clone(), seen, torch.ones_like(seen, dtype=torch.bool), 1.3)
    theirs = RepetitionPenaltyLogitsProcessor(1.3)(seen, logits.clone())
    torch.testing.assert_close(ours, theirs)


def test_repetition_penalty_ignores_padding():
    logits = torch.ones(1, 6)
    seen = torch.tensor([[0, 0, 4]])
    mask = torch.tensor([[False, False, True]])
    out = apply_repetition_penalty(logits, seen, mask, 2.0)
    assert out[0, 0] == 1 and out[0, 4] == 0.5


def test_top_k_and_top_p_match_transformers_warpers():
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(1)
    logits = torch.randn(3, 50)
    gen = GenerationConfig(temperature=0.7, top_k=10, top_p=0.8)
    ours = warp(logits, gen)
    theirs = TopPLogitsWarper(0.8)(None, TopKLogitsWarper(10)(None, logits / 0.7))
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    torch.testing.assert_close(ours[~torch.isinf(ours)], theirs[~torch.isinf(theirs)])


def test_greedy_and_seeded_sampling():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert choose_next(logits, GenerationConfig(), None).tolist() == [1, 0]
    gen = GenerationConfig(temperature=1.0, seed=3)
    a = [choose_next(logits, gen, g).tolist() for g in [make_generators(2, 3)] * 1]
    b = [choose_next(logits, gen, g).tolist() for g in [make_generators(2, 3)] * 1]
    assert a == b


def test_collate_left_pads():
    requests = [
        PreparedRequest(input_ids=torch.tensor([5, 6, 7]), images=[], token_extras={"t": torch.tensor([1, 1, 1])}),
        PreparedRequest(input_ids=torch.tensor([8]), images=[], token_extras={"t": torch.tensor([2])}),
    ]
    batch = collate(requests, pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch.token_extras["t"].tolist() == [[1, 1, 1], [0, 0, 2]]
    assert batch.lengths == [3, 1]


def test_feature_cache_is_a_bounded_lru(tmp_path):
    cache = FeatureCache(max_entries=2)
    for key in "abc":
        cache.put(key, {"embeds": torch.zeros(1)})
    assert cache.get("a") is None and cache.get("c") is not None and len(cache) == 2
    disk = FeatureCache(max_entries=1, folder=tmp_path)
    disk.put("k" * 64, {"embeds": torch.arange(3.0)})
    again = FeatureCache(max_entries=1, folder=tmp_path)
    assert torch.equal(again.get("k" * 64)["embeds"], torch.arange(3.0))


def test_feature_key_depends_on_fingerprint():
    assert feature_key(image_key="x", fingerprint="a") != feature_key(image_key="x", fingerprint="b")


def test_idefics3_tiles_per_image():
    I, G, F = 9, 7, 3  # image token, global marker, other
    # image 1: two tiles then global; image 2: global only
    ids = [F, I, I, F, I, I, F, G, I, I, F, F, G, I, I, F]
    assert tiles_per_image(ids, image_token=I, global_token=G) == [3, 1]
