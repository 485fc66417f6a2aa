"""Which planned image requests will not fit the model's context, as a real run would find.

A real `caption-dir` run writes a request that does not fit the context as an error row
with the engine's message, or, with `--truncate`, lowers its batch's resolution until it
fits; both happen in `engine.fit.prepare_batch` (and `generate.check_context`), which the
real run calls for every batch. The dry run calls the same functions without decoding any
file: a prompt's length is its text (measured once per prompt, with a small stand-in
image) plus the visual tokens the model's planner gives the image's header size; requests
that come near the limit (with the answer budget) are prepared exactly by the processor,
on a stand-in image of their size, through those functions. Videos are not checked (their
planned cost is an upper bound).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.captions.plan import Task
from vlmcli.errors import ContextLengthError, VlmError
from vlmcli.media.names import display_name

NEAR = 0.9
"""Requests estimated above this fraction of the context are prepared exactly."""

PROBE_SIZE = (64, 64)
"""The synthetic image that measures a prompt's text tokens."""


@dataclass(frozen=True)
class ContextCheck:
    context_length: int | None
    over: int = 0
    """Requests a real run would write as error rows (too long, even with --truncate)."""
    lowered: int = 0
    """Requests `--truncate` will lower to fit (their whole batch is prepared lower)."""
    example: str | None = None
    """The real run's message for the first request that does not fit as asked."""

    def to_dict(self) -> dict[str, Any]:
        return {"context_length": self.context_length, "over": self.over, "lowered": self.lowered, "example": self.example}

    def warning(self) -> str | None:
        """One stderr line when some requests do not fit as asked; None when all fit."""
        if self.lowered:
            return (
                f"warning: {self.lowered} request(s) need more than the {self.context_length}-token context; "
                f"--truncate will lower their batches' resolution (e.g. {self.example})"
                + (f"; {self.over} do not fit even then and will be error rows." if self.over else ".")
            )
        if self.over:
            return (
                f"warning: {self.over} request(s) need more than the {self.context_length}-token context and "
                f"a real run writes them as error rows (e.g. {self.example}); pass --truncate to lower their "
                "resolution until they fit, or lower --max-pixels / --max-tiles."
            )
        return None


def _image(size: tuple[int, int]) -> Any:
    from PIL import Image

    from vlmcli.media.image_input import ImageInput

    return ImageInput(Image.new("RGB", size, (128, 128, 128)), source="<dry-run>")


class ContextChecker:
    """Prompt lengths of planned image requests, and whether each fits (module docstring)."""

    def __init__(self, adapter: Any, *, tokens: Callable[[Task], int], system: str | None, answer_tokens: int) -> None:
        from vlmcli.engine.generate import context_length

        self.adapter = adapter
        self.tokens = tokens
        self.system = system
        self.answer_tokens = answer_tokens
        self.limit = context_length(adapter.config)
        self._text: dict[str, int] = {}
        self._exact: dict[tuple[tuple[int, int], str], str | None] = {}

    def request(self, task: Task, size: tuple[int, int]) -> Any:
        from vlmcli.engine.request import Request

        return Request(prompt=task.prompt.text, images=(_image(size),), system=self.system)

    def text_tokens(self, task: Task) -> int:
        """Prompt tokens besides the image's visual tokens, for this task's prompt."""
        if task.prompt.text not in self._text:
            prepared = self.adapter.prepare(self.request(task, PROBE_SIZE))
            visual = sum(image.visual_tokens for image in prepared.images)
            self._text[task.prompt.text] = int(prepared.input_ids.shape[0]) - visual
        return self._text[task.prompt.text]

    def estimate(self, task: Task) -> int:
        """The task's prompt tokens (text + planned visual tokens)."""
        return self.text_tokens(task) + self.tokens(task)

    def problem(self, task: Task, *, truncate: bool) -> tuple[str, bool] | None:
        """(the real run's message, whether --truncate fits it) if `task` does not fit; else None."""
        if task.size is None or task.video is not None or self.limit is None:
            return None
        if self.estimate(task) + self.answer_tokens < NEAR * self.limit:
            return None
        key = (task.size, task.prompt.text)
        if key not in self._exact:
            self._exact[key] = self._check(task)
        message = self._exact[key]
        if message is None:
            return None
        return message, truncate and self._fits_lowered(task)

    def _check(self, task: Task) -> str | None:
        from vlmcli.engine.fit import prepare_batch
        from vlmcli.engine.generate import check_context

        assert task.size is not None
        try:
            batch = prepare_batch(
                self.adapter, [self.request(task, task.size)], truncate=False, answer_tokens=self.answer_tokens
            )
            check_context(int(batch.requests[0].input_ids.shape[0]), self.adapter.config)
        except ContextLengthError as exc:
            return f"{display_name(task.path)}: {exc}"
        return None

    def _fits_lowered(self, task: Task) -> bool:
        from vlmcli.engine.fit import prepare_batch

        assert task.size is not None
        try:
            prepare_batch(self.adapter, [self.request(task, task.size)], truncate=True, answer_tokens=self.answer_tokens)
        except VlmError:
            return False
        return True


def check_tasks(checker: ContextChecker | None, tasks: Sequence[Task], *, truncate: bool) -> ContextCheck:
    """How many of `tasks` do not fit (and would be lowered / fail); see `ContextCheck`."""
    if checker is None:
        return ContextCheck(context_length=None)
    over = lowered = 0
    example = None
    for task in tasks:
        found = checker.problem(task, truncate=truncate)
        if found is None:
            continue
        message, fits = found
        example = example or message
        if fits:
            lowered += 1
        else:
            over += 1
    return ContextCheck(context_length=checker.limit, over=over, lowered=lowered, example=example)
