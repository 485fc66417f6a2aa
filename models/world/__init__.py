"""A small synthetic world for measuring answer quality offline.

Images of coloured shapes and words, high-resolution scenes with a small word, and short
clips whose answer depends on a brief event; each example has a question with an exact
short answer and a reference caption. Everything is a pure function of a seed:

    from models.world import suite, make_example
    heldout = suite(split="heldout", per_task=50)

Modules: `vocab` (closed vocabulary, tokenizer corpus), `draw` (pure rendering),
`images` / `videos` (generators), `tasks` (registry, splits), `frames` (training frame
selection and a reader for `vlmcli.video.sample_video`), `model` (the reference
checkpoint's architecture, tokenizer and processor), `batches` (training tensors),
`evaluate` (the evaluation rows, run through vlmcli's Engine).
"""

from models.world.examples import Event, Example
from models.world.tasks import IMAGE_TASK_NAMES, TASK_NAMES, VIDEO_TASK_NAMES, Split, make_example, suite

__all__ = [
    "IMAGE_TASK_NAMES",
    "TASK_NAMES",
    "VIDEO_TASK_NAMES",
    "Event",
    "Example",
    "Split",
    "make_example",
    "suite",
]
