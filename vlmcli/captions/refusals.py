"""Images the model's resolution planner refuses, found before a dry run measures anything.

Some pictures are outside what a family takes: Qwen and GLM refuse a long side over 200x the
short one (a 4000x1 rule line), Mistral 3 a picture of one visual token (a 16 px icon),
LFM2-VL a strip thinner than its padding. A real run writes an error row for each (the
planner's `InputError`); the dry run asks the same planner from each header size, so it
counts them as known errors, names the first few, and leaves them out of the batch it
times (one refused image made the whole measured batch fail).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vlmcli.captions.plan import Plan, Task
from vlmcli.errors import InputError

EXAMPLES = 5


def split_refused(engine: Any, plan: Plan) -> tuple[Plan, list[tuple[Task, str]]]:
    """(the plan without the image tasks the planner refuses, those tasks with its message)."""
    planner = getattr(getattr(engine, "adapter", None), "plan_images", None)
    if planner is None:
        return plan, []
    verdicts: dict[tuple[int, int], str | None] = {}
    kept: list[Task] = []
    refused: list[tuple[Task, str]] = []
    for task in plan.tasks:
        if task.video is not None or task.size is None:
            kept.append(task)
            continue
        if task.size not in verdicts:
            try:
                planner([task.size])
                verdicts[task.size] = None
            except InputError as exc:
                verdicts[task.size] = str(exc)
        message = verdicts[task.size]
        if message is None:
            kept.append(task)
        else:
            refused.append((task, message))
    return (dataclasses.replace(plan, tasks=kept) if refused else plan), refused


def refused_examples(refused: list[tuple[Task, str]]) -> list[dict[str, str]]:
    """The first few refused files, each {"path", "error"}, one entry per file."""
    seen: dict[str, str] = {}
    for task, message in refused:
        if len(seen) >= EXAMPLES:
            break
        seen.setdefault(task.path, message)
    return [{"path": path, "error": error} for path, error in seen.items()]
