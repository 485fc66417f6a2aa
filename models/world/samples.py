"""A few held-out world images saved next to the checkpoint, for the offline CLI demo:

    vlm ask --model models/reference models/reference/samples/color.png "What color is the triangle?" --dtype float32
"""

from __future__ import annotations

import json
from pathlib import Path

from models.world.tasks import Split, make_example

SAMPLES = (("color", 0), ("count", 0), ("detail", 0))  # (task, held-out index)


def write_samples(folder: Path, *, seed: int = 0, samples: tuple[tuple[str, int], ...] = SAMPLES) -> list[dict]:
    """PNG per sample plus samples.json ([{file, question, answer, task, index}])."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for task, index in samples:
        example = make_example(task=task, index=index, split=Split.HELDOUT, seed=seed)
        if example.image is None:
            raise ValueError(f"{task} is a video task; samples are images")
        name = f"{task}.png"
        example.image.save(folder / name, optimize=True)
        entries.append({"file": name, "question": example.question, "answer": example.answer, "task": task, "index": index})
    (folder / "samples.json").write_text(json.dumps(entries, indent=2) + "\n")
    return entries
