"""A fake engine for CLI tests: the `Engine` contract without torch or weights.

`install_fake_engine(monkeypatch, ...)` replaces the CLI's one seam,
`vlmcli.commands._runtime.load_engine`, and returns a `FakeEngineFactory` that records
every engine it created (with the requests and GenerationConfig it was given).

For real subprocess runs, `python -c "from vlmcli.testing.fakes import main_with_fake; main_with_fake()"`
does the same, configured by the JSON in $VLMCLI_FAKE_ENGINE.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.engine.events import FinishEvent, FinishReason, GenerationResult, ImageUsage, Timings, TokenEvent
from vlmcli.engine.request import Request

VISUAL_TOKENS_PER_IMAGE = 64


def default_answer(request: Request) -> str:
    """Deterministic text that shows which images and prompt the engine received."""
    sources = ", ".join(image.source for image in request.images) or "no images"
    return f"Saw {sources}; asked: {request.prompt}"


def pieces(text: str) -> list[str]:
    """Split like a tokenizer would stream: words with their trailing space."""
    return re.findall(r"\S+\s*", text) or [text]


@dataclass
class FakeEngine:
    config: EngineConfig
    answer: Callable[[Request], str] = default_answer
    interleave: bool = False
    """Round-robin the tokens of a batch (as a batched engine would)."""
    raise_after_tokens: int | None = None
    raise_exc: BaseException | None = None
    """Raised from `stream` after `raise_after_tokens` tokens (e.g. KeyboardInterrupt)."""
    trace_tokens_to_stderr: bool = False
    """Write `<tok N>` to stderr before each token: lets a subprocess test see interleaving."""
    load_s: float = 1.25
    calls: list[tuple[list[Request], GenerationConfig]] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def family(self) -> str:
        return "fake"

    @classmethod
    def load(cls, config: EngineConfig) -> "FakeEngine":
        return cls(config)

    def stream(self, requests: Sequence[Request], gen: GenerationConfig) -> Iterator[TokenEvent | FinishEvent]:
        requests = list(requests)
        self.calls.append((requests, gen))
        texts = [self.answer(r) for r in requests]
        toks = [pieces(t)[: gen.max_tokens] for t in texts]
        order = self._order([len(t) for t in toks])
        emitted = 0
        positions = [0] * len(requests)
        for index in order:
            if self.raise_exc is not None and self.raise_after_tokens is not None and emitted >= self.raise_after_tokens:
                raise self.raise_exc
            piece = toks[index][positions[index]]
            positions[index] += 1
            if self.trace_tokens_to_stderr:
                sys.stderr.write(f"<tok {emitted}>")
                sys.stderr.flush()
            yield TokenEvent(index=index, token_id=1000 + emitted, text=piece)
            emitted += 1
            if positions[index] == len(toks[index]):
                yield FinishEvent(index=index, result=self._result(requests[index], toks[index], gen))
        if self.raise_exc is not None and self.raise_after_tokens is None:
            raise self.raise_exc

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[GenerationResult]:
        results: dict[int, GenerationResult] = {}
        for event in self.stream(requests, gen):
            if isinstance(event, FinishEvent):
                results[event.index] = event.result
        return [results[i] for i in range(len(results))]

    def _order(self, lengths: list[int]) -> list[int]:
        if not self.interleave:
            return [i for i, n in enumerate(lengths) for _ in range(n)]
        order, step = [], 0
        while len(order) < sum(lengths):
            order += [i for i, n in enumerate(lengths) if step < n]
            step += 1
        return order

    def _result(self, request: Request, toks: list[str], gen: GenerationConfig) -> GenerationResult:
        full = pieces(self.answer(request))
        visual = VISUAL_TOKENS_PER_IMAGE * len(request.images)
        return GenerationResult(
            text="".join(toks),
            token_ids=list(range(len(toks))),
            finish_reason=FinishReason.LENGTH if len(toks) < len(full) else FinishReason.STOP,
            prompt_tokens=len(request.prompt.split()) + visual + 5,
            visual_tokens=visual,
            completion_tokens=len(toks),
            timings=Timings(load_s=0.0, vision_s=0.01, prefill_s=0.02, decode_s=0.03),
            images=[
                ImageUsage(image.source, image.image.width, image.image.height, (384, 384), VISUAL_TOKENS_PER_IMAGE)
                for image in request.images
            ],
        )


@dataclass
class FakeEngineFactory:
    """Stands in for `load_engine`; `engines` are the ones it created, in order."""

    options: dict = field(default_factory=dict)
    load_error: BaseException | None = None
    engines: list[FakeEngine] = field(default_factory=list)

    def __call__(self, config: EngineConfig) -> FakeEngine:
        if self.load_error is not None:
            raise self.load_error
        engine = FakeEngine(config, **self.options)
        self.engines.append(engine)
        return engine

    @property
    def engine(self) -> FakeEngine:
        assert self.engines, "the engine was never loaded"
        return self.engines[-1]

    @property
    def requests(self) -> list[Request]:
        return [r for requests, _ in self.engine.calls for r in requests]


def install_fake_engine(monkeypatch, *, load_error: BaseException | None = None, **options) -> FakeEngineFactory:
    from vlmcli.commands import _runtime

    factory = FakeEngineFactory(options=options, load_error=load_error)
    monkeypatch.setattr(_runtime, "load_engine", factory)
    monkeypatch.setattr(_runtime, "check_model", _no_check)
    return factory


def _no_check(config: object, **_: object) -> None:
    """A fake engine needs no model on disk (`_runtime.check_model`)."""


def main_with_fake() -> None:
    """Entry point for subprocess tests: `vlm` with the fake engine configured from the env."""
    from vlmcli import errors
    from vlmcli.cli import main
    from vlmcli.commands import _runtime

    spec = json.loads(os.environ.get("VLMCLI_FAKE_ENGINE", "{}"))
    load_error = None
    if "load_error" in spec:
        cls_name, message = spec.pop("load_error")
        load_error = getattr(errors, cls_name)(message)
    if "raise" in spec:
        name = spec.pop("raise")
        spec["raise_exc"] = KeyboardInterrupt() if name == "KeyboardInterrupt" else RuntimeError(name)
    _runtime.load_engine = FakeEngineFactory(options=spec, load_error=load_error)
    _runtime.check_model = _no_check
    main()


# --- shared helpers for the CLI / media tests (no conftest: that file belongs to others) ---


def isolate_env(monkeypatch, tmp_path) -> None:
    """No VLM_* variables, config under tmp_path (absent), hub cache under tmp_path."""
    for name in list(os.environ):
        if name.startswith("VLM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))


def real_photo(name: str = "astronaut"):
    """A real photograph from scikit-image's bundled data as a PIL image (astronaut, chelsea, coffee, camera)."""
    return _photo(name).copy()


@functools.lru_cache(maxsize=None)
def _photo(name: str):
    from PIL import Image
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def save_photo(path, name: str = "astronaut", **save_kwargs):
    """Write `real_photo(name)` to `path` (format from the extension); returns the path."""
    real_photo(name).save(path, **save_kwargs)
    return path


def caption_dir(*args: object, code: int = 0) -> Any:
    """`vlm caption-dir ARGS -q --json`, in process, asserting its exit code: the run's JSON
    summary when it ran (exit 0, or 9 with error rows), else the CliRunner result (whose
    stderr holds the one-line error)."""
    from typer.testing import CliRunner

    from vlmcli.cli import app

    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "-q", "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code in (0, 9) else result
