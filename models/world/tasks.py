"""The task registry and the splits: every example is a pure function of
(seed, split, task, index), so the held-out suite never shares a random stream with training.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterable

import numpy as np

from models.world.examples import Example
from models.world.images import IMAGE_TASKS
from models.world.videos import VIDEO_TASKS

TASKS = {**IMAGE_TASKS, **VIDEO_TASKS}
IMAGE_TASK_NAMES: tuple[str, ...] = tuple(IMAGE_TASKS)
VIDEO_TASK_NAMES: tuple[str, ...] = tuple(VIDEO_TASKS)
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


class Split(str, enum.Enum):
    TRAIN = "train"
    HELDOUT = "heldout"


_SPLIT_IDS = {Split.TRAIN: 0, Split.HELDOUT: 1}


def example_rng(*, seed: int, split: Split | str, task: str, index: int) -> np.random.Generator:
    """The generator of one example. The task enters by a CRC of its name, so adding a task
    never changes the examples of the others."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of: {', '.join(TASK_NAMES)}")
    if index < 0 or seed < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    return np.random.default_rng([seed, _SPLIT_IDS[Split(split)], zlib.crc32(task.encode()), index])


def make_example(*, task: str, index: int, split: Split | str = Split.TRAIN, seed: int = 0) -> Example:
    """Example number `index` of `task` in `split`."""
    return TASKS[task](example_rng(seed=seed, split=split, task=task, index=index))


def suite(
    *, split: Split | str = Split.HELDOUT, per_task: int, tasks: Iterable[str] | None = None, seed: int = 0
) -> list[Example]:
    """`per_task` examples of each task (all tasks by default), task by task."""
    names = tuple(tasks) if tasks is not None else TASK_NAMES
    return [make_example(task=t, index=i, split=split, seed=seed) for t in names for i in range(per_task)]
