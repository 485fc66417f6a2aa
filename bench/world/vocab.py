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
COUNTS: tuple[str, ...] = ("1", "2", "3", "4", "5")
SIDES: tuple[str, ...] = ("left", "right")
YES_NO: tuple[str, ...] = ("yes", "no")

QUESTIONS: dict[str, str] = {  # task -> question template (str.format fields)
    "color": "What color is the {shape}?",
    "shape": "What shape is the {color} object?",
    "count": "How many {color} shapes are there?",
    "side": "Is the {color} {shape} on the left or the right?",
    "size": "What color is the {which} shape?",
    "word": "What word is written?",
    "exists": "Is there {a} {color} {shape}?",
    "detail": "What is the small word?",
    "move": "Which way does the {color} ball move?",
    "appear": "What shape appears?",
    "flash": "What color flashes?",
    "order": "Which color flashes first?",
}

ANSWER_WEIGHT = 50  # corpus repeats of answers and the system text, so BPE merges them whole
SYSTEM_TEXT = "You are a helpful assistant."  # Qwen2-VL's default system turn (in the corpus)


def article(word: str) -> str:
    """'an' before a vowel sound ('an orange'), else 'a'."""
    return "an" if word[:1] in "aeiou" else "a"


def answer_space(task: str) -> tuple[str, ...]:
    """Every answer `task` can have; a task not listed here is a bug."""
    spaces = {
        "color": tuple(COLORS),
        "shape": SHAPES,
        "count": COUNTS,
        "side": SIDES,
        "size": tuple(COLORS),
        "word": WORDS,
        "exists": YES_NO,
        "detail": WORDS,
        "move": SIDES,
        "appear": SHAPES,
        "flash": tuple(COLORS),
        "order": tuple(COLORS),
    }
    return spaces[task]


def corpus() -> list[str]:
    """Text the tokenizer is trained on: every question, answer and caption word, plus the
    chat template's fixed strings. Deterministic."""
    lines = [SYSTEM_TEXT, "system user assistant", "Describe the image."] * ANSWER_WEIGHT
    for template in QUESTIONS.values():
        for color in COLORS:
            for shape in SHAPES:
                for which in ("big", "small"):
                    lines.append(template.format(color=color, shape=shape, which=which, a=article(color)))
    for task in QUESTIONS:  # answers follow "assistant\n" with no space: learn them unspaced
        lines.extend(list(answer_space(task)) * ANSWER_WEIGHT)
    lines += [f"{article(c)} {c} {s} on the {side}." for c in COLORS for s in SHAPES for side in SIDES]
    lines += [f'the word "{w}" is written.' for w in WORDS]
    lines += [f"{article(c)} {c} flash, then {article(d)} {d} flash." for c in COLORS for d in COLORS if c != d]
    lines += [f"{article(c)} {c} {s} appears." for c in COLORS for s in SHAPES]
    lines += [f"{article(c)} {c} ball moves to the {side}." for c in COLORS for side in SIDES]
    return lines
