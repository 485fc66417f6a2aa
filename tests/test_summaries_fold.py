"""Text-only summary requests that outgrow the context are folded in halves (`summaries.fold`):
30 descriptions of up to --max-tokens each ended a finished video-summarize run with exit 5."""

from __future__ import annotations

import pytest

from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.engine.request import Request
from vlmcli.errors import ContextLengthError
from vlmcli.summaries.fold import folded
from vlmcli.testing.fakes import FakeEngine

MOST_LINES = 4
"""The fake's context holds a prompt of at most this many description lines."""


class ShortContextEngine(FakeEngine):
    def stream(self, requests, gen):
        lines = requests[0].prompt.count("\n[") + requests[0].prompt.startswith("[")
        if lines > MOST_LINES:
            raise ContextLengthError(f"{lines} lines do not fit")
        yield from super().stream(requests, gen)


def prompt_over(tag: str):
    return lambda lines: Request(prompt=tag + "\n" + "\n".join(f"[{a}-{b}] {t}" for a, b, t in lines))


def part_over(span, lines):
    return Request(prompt=f"part {span[0]}-{span[1]}\n" + "\n".join(f"[{a}-{b}] {t}" for a, b, t in lines))


@pytest.mark.parametrize("count", [1, 4, 5, 9, 30])
def test_a_request_is_made_over_lines_that_fit(count):
    engine = ShortContextEngine(EngineConfig(model="fake"), answer=lambda r: "summary")
    lines = [(10.0 * i, 10.0 * i + 10, f"segment {i}") for i in range(count)]
    results = list(folded(engine, GenerationConfig(max_tokens=4), lines, request_for=prompt_over("final"),
                          part_for=part_over, on_token=False))
    assert len(results) == 1 and results[0].text  # one final answer, however many lines
    final = engine.calls[-1][0][0].prompt
    assert final.startswith("final") and final.count("\n[") <= MOST_LINES
    parts = [c[0][0].prompt for c in engine.calls if c[0][0].prompt.startswith("part")]
    assert (len(parts) > 0) == (count > MOST_LINES)
    if parts:  # the parts cover the video from its first line to its last, in order
        assert final.splitlines()[1].startswith("[0.0-") and final.splitlines()[-1].endswith("summary")
        assert final.splitlines()[-1].startswith("[") and f"-{10.0 * count}]" in final.splitlines()[-1]


def test_a_single_line_that_cannot_fit_is_still_an_error():
    class NoRoom(FakeEngine):
        def stream(self, requests, gen):
            raise ContextLengthError("no room")
            yield  # pragma: no cover

    with pytest.raises(ContextLengthError):
        list(folded(NoRoom(EngineConfig(model="fake")), GenerationConfig(), [(0.0, 1.0, "x"), (1.0, 2.0, "y")],
                    request_for=prompt_over("final"), part_for=part_over, on_token=False))
