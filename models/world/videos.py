"""Video tasks: 8-second clips (64 frames at 8 fps, 128 x 128) whose answer hangs on a
short event, so which frames a sampler picks decides whether the model can answer.

- appear: a shape is visible for only 4-6 frames of an empty scene; its colour (a small
          change: no hard cut, so `keyframe` misses it and `dynamic` finds it).
- flash:  the whole frame turns one colour for 4-6 frames (two hard cuts); which colour.
- order:  two such flashes of different colours, one in each half; which came first.

Each generator is `fn(rng) -> Example` with `events` marking the frames that matter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.world.draw import Thing, background, draw_thing, pick, place
from models.world.examples import Event, Example
from models.world.vocab import COLORS, QUESTIONS, SHAPES, article

SIDE = 128
FRAMES = 64
FPS = 8.0


def _static(rng: np.random.Generator, things: list[Thing]) -> np.ndarray:
    """(FRAMES, SIDE, SIDE, 3) copies of one still scene."""
    image = background(rng, width=SIDE, height=SIDE)
    for thing in things:
        draw_thing(image, thing)
    return np.repeat(np.asarray(image)[None], FRAMES, axis=0)  # (T, H, W, 3)


def _flash(frames: np.ndarray, *, color: str, start: int, length: int) -> Event:
    frames[start : start + length] = np.asarray(COLORS[color], dtype=np.uint8)  # whole frame, in place
    return Event(name=f"{color} flash", start=start, stop=start + length)


def appear_task(rng: np.random.Generator) -> Example:
    shape = pick(rng, SHAPES)[0]
    color = pick(rng, tuple(COLORS))[0]
    length = int(rng.integers(4, 7))
    start = int(rng.integers(4, FRAMES - length - 4 + 1))
    base = background(rng, width=SIDE, height=SIDE)
    frames = np.repeat(np.asarray(base)[None], FRAMES, axis=0)  # (T, H, W, 3) the empty scene
    size = int(rng.integers(26, 37))
    image = base.copy()
    draw_thing(image, Thing(shape=shape, color=color, box=place(rng, size=(size, size), canvas=(SIDE, SIDE), taken=[])))
    frames[start : start + length] = np.asarray(image)
    return Example(
        task="appear", question=QUESTIONS["appear"], answer=color, caption=f"{article(color)} {color} {shape} appears.",
        frames=frames, fps=FPS, events=(Event(name=f"{shape} visible", start=start, stop=start + length),),
    )


def _still_things(rng: np.random.Generator, *, avoid: set[str]) -> list[Thing]:
    """One or two small shapes that stay put, in colours not in `avoid`."""
    colors = tuple(c for c in COLORS if c not in avoid)
    n = int(rng.integers(1, 3))
    taken: list[tuple[int, int, int, int]] = []
    out = []
    for shape, color in zip(pick(rng, SHAPES, n), pick(rng, colors, n)):
        side = int(rng.integers(18, 29))
        out.append(Thing(shape=shape, color=color, box=place(rng, size=(side, side), canvas=(SIDE, SIDE), taken=taken)))
    return out


def flash_task(rng: np.random.Generator) -> Example:
    color = pick(rng, tuple(COLORS))[0]
    length = int(rng.integers(4, 7))
    start = int(rng.integers(4, FRAMES - length - 4 + 1))
    frames = _static(rng, _still_things(rng, avoid={color}))
    event = _flash(frames, color=color, start=start, length=length)
    return Example(
        task="flash", question=QUESTIONS["flash"], answer=color, caption=f"{article(color)} {color} flash.",
        frames=frames, fps=FPS, events=(event,),
    )


def order_task(rng: np.random.Generator) -> Example:
    first, second = pick(rng, tuple(COLORS), 2)
    frames = _static(rng, _still_things(rng, avoid={first, second}))
    len1, len2 = (int(x) for x in rng.integers(4, 7, size=2))
    start1 = int(rng.integers(4, FRAMES // 2 - len1 - 4 + 1))
    start2 = int(rng.integers(FRAMES // 2 + 4, FRAMES - len2 - 4 + 1))
    events = (
        _flash(frames, color=first, start=start1, length=len1),
        _flash(frames, color=second, start=start2, length=len2),
    )
    return Example(
        task="order", question=QUESTIONS["order"], answer=first, caption=f"{article(first)} {first} flash, then {article(second)} {second} flash.",
        frames=frames, fps=FPS, events=events,
    )


VIDEO_TASKS: dict[str, Callable[[np.random.Generator], Example]] = {
    "appear": appear_task,
    "flash": flash_task,
    "order": order_task,
}
