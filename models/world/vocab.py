"""The closed vocabulary of the world: colours, shapes, words, and every question wording.

Why one file: the tokenizer is trained on exactly this text (`corpus`), answers are checked
against these sets, and the generators draw from them, so they can never disagree.
"""

from __future__ import annotations

COLORS: dict[str, tuple[int, int, int]] = {  # saturated and far apart in RGB and hue
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
WORDS: tuple[str, ...] = ("fish", "bird", "moon", "star", "tree", "boat", "lamp", "frog")
"""All four letters long: at low resolution a word's outline says nothing about which it is."""
COUNTS: tuple[str, ...] = ("1", "2", "3", "4")
SIDES: tuple[str, ...] = ("left", "right")
YES_NO: tuple[str, ...] = ("yes", "no")

QUESTIONS: dict[str, str] = {  # task -> question. Each question is fixed for its task: a model
    # this small learns "which object" from the image (the big one, the left one) within the
    # training budget, but not from a word of the question (the red one, the triangle); see
    # models/reference/README.md.
    "color": "What color is the shape?",
    "size": "What color is the big shape?",
    "side": "What color is the shape on the left?",
    "count": "How many circles are there?",
    "left": "Is the shape on the left?",
    "word": "What word is written?",
    "detail": "What color is the small dot?",
    "appear": "What color is the shape that appears?",
    "flash": "What color flashes?",
    "order": "Which color flashes first?",
}

ANSWER_WEIGHT = 50  # corpus repeats of answers, so BPE merges them whole


def article(word: str) -> str:
    """'an' before a vowel sound ('an orange'), else 'a'."""
    return "an" if word[:1] in "aeiou" else "a"


def answer_space(task: str) -> tuple[str, ...]:
    """Every answer `task` can have; a task not listed here is a bug."""
    spaces = {
        "color": tuple(COLORS),
        "size": tuple(COLORS),
        "side": tuple(COLORS),
        "count": COUNTS,
        "left": YES_NO,
        "word": WORDS,
        "detail": tuple(COLORS),
        "appear": tuple(COLORS),
        "flash": tuple(COLORS),
        "order": tuple(COLORS),
    }
    return spaces[task]


def corpus() -> list[str]:
    """Text the tokenizer is trained on: the questions, the answers, caption words and the
    chat template's role names and Qwen3-VL clip timestamps. Deterministic."""
    lines = ["system user assistant"] * ANSWER_WEIGHT
    lines += [" ".join(f"<{t / 10:.1f} seconds>" for t in range(s, 80, 8)) for s in range(8)]
    lines += list(QUESTIONS.values()) * ANSWER_WEIGHT
    for task in QUESTIONS:  # answers follow "assistant\n" with no space: learn them unspaced
        lines.extend(list(answer_space(task)) * ANSWER_WEIGHT)
    lines += [f"{article(c)} {c} {s} on the {side}." for c in COLORS for s in SHAPES for side in SIDES]
    lines += [f'the word "{w}" is written.' for w in WORDS]
    lines += [f"{article(c)} {c} flash, then {article(d)} {d} flash." for c in COLORS for d in COLORS if c != d]
    lines += [f"{article(c)} {c} {s} appears." for c in COLORS for s in SHAPES]
    return lines
