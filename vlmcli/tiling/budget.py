"""Fitting a prompt into the context by lowering the resolution (`--truncate`), pure parts.

`--truncate` never cuts text or a run of image tokens: it lowers `max_pixels` (the one
knob every family maps, see `policy`; a cap only ever lowers the model's default) and a
`min_pixels` floor with it, until the prompt fits, then reports what it used.
Token counts only grow with `max_pixels`, so the largest fitting value is found by
halving from a start value, then bisecting between the last failing and the first fitting
value. The caller supplies `fits(max_pixels)`, which really prepares the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vlmcli.tiling.policy import ResolutionPolicy

REFINE_STEPS = 6
"""Bisection steps after halving: the result is within 1/64 of the best by pixels."""


def lowered_policy(policy: ResolutionPolicy, max_pixels: int) -> ResolutionPolicy:
    """`policy` with its pixel cap lowered to `max_pixels` (never raised) and its floor, if
    any, lowered with it (never above the cap: the floor would otherwise keep the resolution
    up); `max_tiles` still applies. A cap only ever lowers the model's default (`policy`),
    so the result never costs more than `policy`."""
    cap = max_pixels if policy.max_pixels is None else min(policy.max_pixels, max_pixels)
    floor = None if policy.min_pixels is None else min(policy.min_pixels, cap)
    return replace(policy, max_pixels=cap, min_pixels=floor)


def largest_fitting(*, start: int, fits: Callable[[int], bool], refine_steps: int = REFINE_STEPS) -> int | None:
    """The largest value in [1, start] for which `fits` is true, assuming `fits` is monotone
    (true for every value below a fitting one), to within the bisection's precision; None
    when even 1 does not fit. Halves from `start`, then bisects `refine_steps` times."""
    if start < 1:
        raise ValueError(f"start must be >= 1, not {start}")
    failing: int | None = None
    value = start
    while not fits(value):
        failing = value
        if value == 1:
            return None
        value = max(1, value // 2)
    found = value
    for _ in range(refine_steps):
        if failing is None or failing - found <= 1:
            break
        middle = (found + failing) // 2
        if fits(middle):
            found = middle
        else:
            failing = middle
    return found
