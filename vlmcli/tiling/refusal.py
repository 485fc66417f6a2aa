"""Which image a planning refusal is about.

A family's planning sees sizes, not files: "A 1x20000 image is too elongated for Qwen models"
cannot name `strip.png`. The refusal keeps the (width, height) it was raised for
(`about_image`), so a command that asked about several inputs can name the one (or the
inputs of that size) the refusal is about (`commands._inputs.naming_refused`). The size is
an attribute of the error, so it survives pickling like the message does.
"""

from __future__ import annotations

from typing import TypeVar

from vlmcli.errors import VlmError

E = TypeVar("E", bound=VlmError)


def about_image(error: E, *, width: int, height: int) -> E:
    """`error` (an `InputError`, or a `ConfigError` for a cap an image cannot be planned under)
    marked as refused for the `width x height` image; raise what it returns."""
    error.image_size = (int(width), int(height))  # type: ignore[attr-defined]
    return error


def refused_size(error: BaseException) -> tuple[int, int] | None:
    """The (width, height) `error` was refused for (`about_image`), or None."""
    size = getattr(error, "image_size", None)
    return size if isinstance(size, tuple) and len(size) == 2 else None
