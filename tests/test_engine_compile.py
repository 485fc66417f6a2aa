"""`--compile`: the decode step through torch.compile gives the eager engine's tokens, and logits
within `LOGIT_TOLERANCE`; without a C++ compiler it is a clear error, never a silent eager run.

Compiling takes ~10-20 s per model here, so one compiled engine (tiny SmolVLM) serves the
module; the CLI test compiles the same graphs again and hits inductor's on-disk cache.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine import compiled
from vlmcli.errors import ConfigError, ModelError
from vlmcli.testing import sample_photos

needs_cxx = pytest.mark.skipif(compiled.cxx_compiler() is None, reason="inductor needs a C++ compiler on CPU")
FAMILY = "smolvlm"


def test_missing_cxx_compiler_is_a_config_error(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    assert compiled.cxx_compiler() is None
    with pytest.raises(ConfigError, match="C\\+\\+ compiler"):
        compiled.CompiledDecoder(object(), device_type="cpu")
    compiled.check_can_compile("cuda")  # triton, not a host compiler, builds GPU kernels


def test_cli_without_cxx_compiler_fails_in_one_line(monkeypatch, tmp_path, tiny_checkpoint):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    # not $CXX: inductor reads it once, when its config is first imported (here, by the model load)
    monkeypatch.setattr(compiled, "cxx_compiler", lambda: None)
    photo = tmp_path / "photo.jpg"
    sample_photos()[0].save(photo)
    args = ["ask", str(photo), "What is this?", "-m", str(tiny_checkpoint(FAMILY)), "--compile", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ConfigError.exit_code
    assert "--compile needs a C++ compiler" in result.stderr
    assert "Traceback" not in result.output


@needs_cxx
def test_recompiling_past_the_limit_is_a_model_error(monkeypatch):
    import torch

    monkeypatch.setattr(compiled, "RECOMPILE_LIMIT", 1)
    step = compiled.CompiledDecoder(torch.nn.Linear(4, 4), device_type="cpu")
    with torch.no_grad():
        step(input=torch.randn(3, 4))
        with pytest.raises(ModelError, match="recompilations"):
            step(input=torch.randn(1, 4))  # size 1 is specialised: a second graph, over the limit


@pytest.fixture(scope="module")
def engines(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    eager = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    fast = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", compile=True))
    return eager, fast


@pytest.mark.slow  # the first compile takes most of a minute on two cores
@needs_cxx
def test_compiled_engine_gives_the_eager_tokens(engines):
    eager, fast = engines
    assert eager.step is None and isinstance(fast.step, compiled.CompiledDecoder)
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[3]))
    gen = GenerationConfig(max_tokens=12, ignore_eos=True)
    for batch in ([one], [one, two], [two, one, two]):  # batch sizes change: recompiles, then symbolic
        expected = [r.token_ids for r in eager.generate(batch, gen)]
        assert [r.token_ids for r in fast.generate(batch, gen)] == expected


@needs_cxx
def test_compiled_logits_are_within_the_budget(engines):
    import torch

    from vlmcli.engine.kvcache import cache_keyword, growing_cache

    eager, fast = engines
    adapter = eager.adapter
    text = adapter.model.config.get_text_config(decoder=True)
    key = cache_keyword(adapter.decoder)
    torch.manual_seed(0)
    prompt = torch.randn(2, 9, text.hidden_size)  # (B, L, D)

    def logits(step) -> list:
        kv = growing_cache(text, reserve=8)
        with torch.no_grad():
            hidden = adapter.decoder(inputs_embeds=prompt, use_cache=True, **{key: kv}).last_hidden_state
            outs = []
            for _ in range(6):
                hidden = step(inputs_embeds=hidden[:, -1:], use_cache=True, **{key: kv}).last_hidden_state
                outs.append(adapter.lm_head(hidden).float())  # (B, 1, V)
        return outs

    expected, got = logits(adapter.decoder), logits(fast.step)
    worst = max((a - b).abs().max().item() for a, b in zip(expected, got))
    assert worst <= compiled.LOGIT_TOLERANCE
    assert all(torch.equal(a.argmax(-1), b.argmax(-1)) for a, b in zip(expected, got))


@needs_cxx
def test_cli_compile_answers_like_the_default(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    photo = tmp_path / "photo.jpg"
    sample_photos()[1].save(photo)
    args = ["ask", str(photo), "What is in this picture?", "-m", str(tiny_checkpoint(FAMILY)), "--json"]
    args += ["--device", "cpu", "--dtype", "float32", "--max-tokens", "8"]
    plain = CliRunner().invoke(app, args)
    fast = CliRunner().invoke(app, [*args, "--compile"])
    assert plain.exit_code == 0 and fast.exit_code == 0, fast.output
    expected, got = json.loads(plain.stdout), json.loads(fast.stdout)
    assert (got["text"], got["completion_tokens"]) == (expected["text"], expected["completion_tokens"])
