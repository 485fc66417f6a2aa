"""Image tasks: coloured shapes (colour, big one, left one, left or not, count), large
words, and high-resolution scenes whose answer is a small dot (resolution matters).

Each generator is `fn(rng) -> Example` and draws everything from `rng`.
Small images are 128 x 128 (16 Qwen3-VL tokens); detail scenes are 256 x 256 (64 tokens)
with a dot 9-12 px across that a 64 x 64 view (4 tokens) blurs into the background.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.world.draw import NoRoom, Thing, background, draw_plain, draw_thing, draw_word, pick, place, word_extent
from models.world.examples import Example
from models.world.vocab import COLORS, COUNTS, QUESTIONS, SHAPES, WORDS, article

SMALL = 128  # side of ordinary images
DETAIL = 256  # side of the high-resolution scenes
INK = (20, 20, 20)
COUNT_SIDE = 24  # every counted circle has this diameter
WORD_JITTER = 12  # px a word may sit off the centre


def _things(
    rng: np.random.Generator,
    pairs: list[tuple[str, str]],
    *,
    canvas: int,
    sizes: tuple[int, int],
    taken: list[tuple[int, int, int, int]] | None = None,
    attempts: int = 50,
) -> list[Thing]:
    """Place one thing per (shape, colour) pair, each a random square size in `sizes`, clear
    of the boxes in `taken` (extended in place). A layout that boxes itself in is re-drawn."""
    taken = [] if taken is None else taken
    for _ in range(attempts):
        trial = list(taken)
        try:
            out = []
            for shape, color in pairs:
                side = int(rng.integers(sizes[0], sizes[1] + 1))
                box = place(rng, size=(side, side), canvas=(canvas, canvas), taken=trial)
                out.append(Thing(shape=shape, color=color, box=box))
        except NoRoom:
            continue
        taken[:] = trial
        return out
    raise NoRoom(f"could not lay out {len(pairs)} objects on a {canvas} px canvas")


def describe(things: list[Thing], *, canvas: int = SMALL) -> str:
    """'a red circle on the left and a blue square on the right.' (objects left to right)"""
    things = sorted(things, key=lambda t: t.center[0])
    parts = [f"{article(t.color)} {t.color} {t.shape} on the {'left' if t.center[0] < canvas / 2 else 'right'}" for t in things]
    if len(parts) == 1:
        return parts[0] + "."
    return ", ".join(parts[:-1]) + " and " + parts[-1] + "."


def _scene(rng: np.random.Generator, things: list[Thing], *, canvas: int = SMALL):
    image = background(rng, width=canvas, height=canvas)
    for thing in things:
        draw_thing(image, thing)
    return image


def _distinct_pairs(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """n objects with distinct shapes and distinct colours."""
    return list(zip(pick(rng, SHAPES, n), pick(rng, tuple(COLORS), n)))


def color_task(rng: np.random.Generator) -> Example:
    """One shape of any kind, size and place: its colour."""
    things = _things(rng, _distinct_pairs(rng, 1), canvas=SMALL, sizes=(20, 44))
    return Example(
        task="color", question=QUESTIONS["color"], answer=things[0].color,
        caption=describe(things), image=_scene(rng, things),
    )


def size_task(rng: np.random.Generator) -> Example:
    """A big and a small shape in different colours: the big one's colour."""
    (s1, c1), (s2, c2) = _distinct_pairs(rng, 2)
    taken: list[tuple[int, int, int, int]] = []
    if rng.random() < 0.5:  # which is placed first must not tell which is big
        big = _things(rng, [(s1, c1)], canvas=SMALL, sizes=(40, 52), taken=taken)[0]
        small = _things(rng, [(s2, c2)], canvas=SMALL, sizes=(14, 20), taken=taken)[0]
    else:
        small = _things(rng, [(s2, c2)], canvas=SMALL, sizes=(14, 20), taken=taken)[0]
        big = _things(rng, [(s1, c1)], canvas=SMALL, sizes=(40, 52), taken=taken)[0]
    return Example(
        task="size", question=QUESTIONS["size"], answer=big.color,
        caption=describe([big, small]), image=_scene(rng, [big, small]),
    )


def side_task(rng: np.random.Generator) -> Example:
    """One shape in each half, different colours: the left one's colour."""
    (s1, c1), (s2, c2) = _distinct_pairs(rng, 2)
    taken: list[tuple[int, int, int, int]] = []
    things = []
    for shape, color, half in ((s1, c1, 0), (s2, c2, 1)):
        side = int(rng.integers(20, 36))
        lo = 4 if half == 0 else SMALL // 2 + 4
        box = place(rng, size=(side, side), canvas=(SMALL, SMALL), taken=taken, x_range=(lo, lo + SMALL // 2 - side - 8))
        things.append(Thing(shape=shape, color=color, box=box))
    return Example(
        task="side", question=QUESTIONS["side"], answer=things[0].color,
        caption=describe(things), image=_scene(rng, things),
    )


def count_task(rng: np.random.Generator) -> Example:
    """One to four circles of one colour and one fixed size: how many."""
    color = pick(rng, tuple(COLORS))[0]
    k = int(rng.integers(1, len(COUNTS) + 1))
    things = _things(rng, [("circle", color)] * k, canvas=SMALL, sizes=(COUNT_SIDE, COUNT_SIDE))
    return Example(
        task="count", question=QUESTIONS["count"], answer=str(k),
        caption=describe(things), image=_scene(rng, things),
    )


def left_task(rng: np.random.Generator) -> Example:
    """One shape, clear of the middle: yes if it is in the left half (half the time)."""
    answer = "yes" if rng.random() < 0.5 else "no"
    side = int(rng.integers(20, 37))
    lo = 4 if answer == "yes" else SMALL // 2 + 8
    hi = SMALL // 2 - 8 - side if answer == "yes" else SMALL - 4 - side
    (shape, color), = _distinct_pairs(rng, 1)
    box = place(rng, size=(side, side), canvas=(SMALL, SMALL), taken=[], x_range=(lo, hi))
    things = [Thing(shape=shape, color=color, box=box)]
    return Example(
        task="left", question=QUESTIONS["left"], answer=answer,
        caption=describe(things), image=_scene(rng, things),
    )


def word_task(rng: np.random.Generator) -> Example:
    """A large word near the middle of the picture: which word."""
    word = pick(rng, WORDS)[0]
    size = int(rng.integers(34, 41))
    image = background(rng, width=SMALL, height=SMALL)
    w, h = word_extent(word, size=size)
    x = (SMALL - w) // 2 + int(rng.integers(-WORD_JITTER, WORD_JITTER + 1))
    y = (SMALL - h) // 2 + int(rng.integers(-WORD_JITTER, WORD_JITTER + 1))
    draw_word(image, word, xy=(x, y), size=size, fill=INK)
    return Example(task="word", question=QUESTIONS["word"], answer=word, caption=f'the word "{word}" is written.', image=image)


def detail_task(rng: np.random.Generator) -> Example:
    """A 256 x 256 scene of large grey shapes with one small coloured dot (9-12 px): its colour.

    At full resolution the dot covers a fair part of one 16 px patch; a 128 px view (16
    tokens) halves it and a 64 px view (4 tokens) blurs it into the background.
    """
    color = pick(rng, tuple(COLORS))[0]
    side = int(rng.integers(9, 13))
    taken: list[tuple[int, int, int, int]] = []
    dot = Thing(shape="circle", color=color, box=place(rng, size=(side, side), canvas=(DETAIL, DETAIL), taken=taken, gap=8))
    image = background(rng, width=DETAIL, height=DETAIL)
    for _ in range(int(rng.integers(2, 5))):
        big = int(rng.integers(36, 65))
        try:
            box = place(rng, size=(big, big), canvas=(DETAIL, DETAIL), taken=taken, gap=8)
        except NoRoom:
            break
        grey = int(rng.integers(90, 171))
        draw_plain(image, shape=pick(rng, SHAPES)[0], box=box, fill=(grey, grey, grey))
    draw_thing(image, dot)
    caption = f"grey shapes and a small {color} dot."
    return Example(task="detail", question=QUESTIONS["detail"], answer=color, caption=caption, image=image)


IMAGE_TASKS: dict[str, Callable[[np.random.Generator], Example]] = {
    "color": color_task,
    "size": size_task,
    "side": side_task,
    "count": count_task,
    "left": left_task,
    "word": word_task,
    "detail": detail_task,
}
