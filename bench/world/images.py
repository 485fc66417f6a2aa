"""Image tasks: coloured shapes (colour, shape, count, side, size, existence), large words,
and high-resolution scenes whose answer is a small word (resolution matters).

Each generator is `fn(rng) -> Example` and draws everything from `rng`.
Small images are 112 x 112 (16 Qwen2-VL tokens); detail scenes are 224 x 224 (64 tokens)
with a word about 8 px tall that a 112 x 112 view (16 tokens) cannot resolve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.world.draw import NoRoom, Thing, background, draw_thing, draw_word, pick, place, word_extent
from bench.world.examples import Example
from bench.world.vocab import COLORS, QUESTIONS, SHAPES, WORDS, article

SMALL = 112  # side of ordinary images
DETAIL = 224  # side of the high-resolution scenes
INK = (20, 20, 20)


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
    """'a red circle on the left and a blue square on the right.'"""
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
    things = _things(rng, _distinct_pairs(rng, int(rng.integers(1, 4))), canvas=SMALL, sizes=(26, 38))
    target = things[int(rng.integers(len(things)))]
    return Example(
        task="color", question=QUESTIONS["color"].format(shape=target.shape), answer=target.color,
        caption=describe(things), image=_scene(rng, things),
    )


def shape_task(rng: np.random.Generator) -> Example:
    things = _things(rng, _distinct_pairs(rng, int(rng.integers(1, 4))), canvas=SMALL, sizes=(26, 38))
    target = things[int(rng.integers(len(things)))]
    return Example(
        task="shape", question=QUESTIONS["shape"].format(color=target.color), answer=target.shape,
        caption=describe(things), image=_scene(rng, things),
    )


def count_task(rng: np.random.Generator) -> Example:
    color, other = pick(rng, tuple(COLORS), 2)
    k = int(rng.integers(1, 6))
    distractors = int(rng.integers(0, 3))
    pairs = [(pick(rng, SHAPES)[0], color) for _ in range(k)] + [(pick(rng, SHAPES)[0], other) for _ in range(distractors)]
    things = _things(rng, pairs, canvas=SMALL, sizes=(14, 20))
    return Example(
        task="count", question=QUESTIONS["count"].format(color=color), answer=str(k),
        caption=describe(things), image=_scene(rng, things),
    )


def side_task(rng: np.random.Generator) -> Example:
    (shape, color), (shape2, color2) = _distinct_pairs(rng, 2)
    answer = pick(rng, ("left", "right"))[0]
    side = int(rng.integers(22, 31))
    x_range = (4, SMALL // 2 - side - 6) if answer == "left" else (SMALL // 2 + 6, SMALL - side - 4)
    taken: list[tuple[int, int, int, int]] = []
    target = Thing(shape=shape, color=color, box=place(rng, size=(side, side), canvas=(SMALL, SMALL), taken=taken, x_range=x_range))
    things = [target, *_things(rng, [(shape2, color2)], canvas=SMALL, sizes=(22, 30), taken=taken)]
    return Example(
        task="side", question=QUESTIONS["side"].format(color=color, shape=shape), answer=answer,
        caption=describe(things), image=_scene(rng, things),
    )


def size_task(rng: np.random.Generator) -> Example:
    (s1, c1), (s2, c2) = _distinct_pairs(rng, 2)
    taken: list[tuple[int, int, int, int]] = []
    big = _things(rng, [(s1, c1)], canvas=SMALL, sizes=(40, 50), taken=taken)[0]
    small = _things(rng, [(s2, c2)], canvas=SMALL, sizes=(12, 18), taken=taken)[0]
    which = pick(rng, ("big", "small"))[0]
    things = [big, small] if rng.random() < 0.5 else [small, big]
    return Example(
        task="size", question=QUESTIONS["size"].format(which=which), answer=(big if which == "big" else small).color,
        caption=describe(things), image=_scene(rng, things),
    )


def exists_task(rng: np.random.Generator) -> Example:
    things = _things(rng, _distinct_pairs(rng, int(rng.integers(1, 4))), canvas=SMALL, sizes=(26, 38))
    if rng.random() < 0.5:
        target = things[int(rng.integers(len(things)))]
        color, shape, answer = target.color, target.shape, "yes"
    else:  # absent, but often one of its two attributes is present (binding matters)
        present = {(t.color, t.shape) for t in things}
        options = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in present]
        near = [(c, s) for c, s in options if any(c == t.color or s == t.shape for t in things)]
        pool = near if near and rng.random() < 0.7 else options
        color, shape = pool[int(rng.integers(len(pool)))]
        answer = "no"
    return Example(
        task="exists", question=QUESTIONS["exists"].format(a=article(color), color=color, shape=shape), answer=answer,
        caption=describe(things), image=_scene(rng, things),
    )


def word_task(rng: np.random.Generator) -> Example:
    word = pick(rng, WORDS)[0]
    size = int(rng.integers(24, 33))
    image = background(rng, width=SMALL, height=SMALL)
    w, h = word_extent(word, size=size)
    box = place(rng, size=(w, h), canvas=(SMALL, SMALL), taken=[])
    draw_word(image, word, xy=box[:2], size=size, fill=INK)
    return Example(task="word", question=QUESTIONS["word"], answer=word, caption=f'the word "{word}" is written.', image=image)


def detail_task(rng: np.random.Generator) -> Example:
    """A 224 x 224 scene of large shapes with one small word (font 10-11 px, ~8 px of ink)."""
    word = pick(rng, WORDS)[0]
    size = int(rng.integers(10, 12))
    w, h = word_extent(word, size=size)
    taken: list[tuple[int, int, int, int]] = []
    box = place(rng, size=(w, h), canvas=(DETAIL, DETAIL), taken=taken, gap=6)
    things = _things(rng, _distinct_pairs(rng, int(rng.integers(2, 4))), canvas=DETAIL, sizes=(36, 64), taken=taken)
    image = _scene(rng, things, canvas=DETAIL)
    draw_word(image, word, xy=box[:2], size=size, fill=INK)
    caption = describe(things, canvas=DETAIL)[:-1] + f', and the small word "{word}".'
    return Example(task="detail", question=QUESTIONS["detail"], answer=word, caption=caption, image=image)


IMAGE_TASKS: dict[str, Callable[[np.random.Generator], Example]] = {
    "color": color_task,
    "shape": shape_task,
    "count": count_task,
    "side": side_task,
    "size": size_task,
    "exists": exists_task,
    "word": word_task,
    "detail": detail_task,
}
