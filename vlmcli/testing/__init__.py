"""Test support, in one home: everything tests, bench scripts and field checks share.

- tiny offline checkpoints of every supported family (`build_tiny_checkpoint`,
  `MODEL_TYPES`, one `<family>.py` builder module each, found through the family registry);
- `fakes`: an engine with the `Engine` contract and no torch, and `isolate_env` for CLI tests;
- `media`: real photos (`sample_photos`), synthetic clips with known cuts, codec/container
  variants and a corpus of broken inputs;
- `reference`, `costs`: what family tests compare against (`model.generate`, the planner).

The reference model's synthetic world and training script live beside the checkpoint, in
`models/world/` and `models/train_reference.py`.

Each builder writes a folder that loads with `AutoProcessor.from_pretrained` and
`AutoModelForImageTextToText.from_pretrained` like a hub model: real config, model, processor
and tokenizer classes at tiny sizes, a BPE tokenizer trained offline with the family's
special tokens and chat template, and random weights from a fixed seed.
Model classes are imported only when a checkpoint is built.
"""

import importlib
from typing import TYPE_CHECKING, Any

from vlmcli.testing.builders import MODEL_TYPES, build_tiny_checkpoint
from vlmcli.testing.media import sample_photos

if TYPE_CHECKING:
    from vlmcli.testing.idefics3 import build_smolvlm_256m_random, build_smolvlm_lm135m_random, smolvlm_256m_config
    from vlmcli.testing.qwen import build_qwen2_vl_2b_random, qwen2_vl_2b_config

_LAZY = {  # name -> module, imported on first access (it pulls in model classes)
    "build_smolvlm_256m_random": "vlmcli.testing.idefics3",
    "build_smolvlm_lm135m_random": "vlmcli.testing.idefics3",
    "smolvlm_256m_config": "vlmcli.testing.idefics3",
    "build_qwen2_vl_2b_random": "vlmcli.testing.qwen",
    "qwen2_vl_2b_config": "vlmcli.testing.qwen",
}

__all__ = [
    "MODEL_TYPES",
    "build_qwen2_vl_2b_random",
    "build_smolvlm_256m_random",
    "build_smolvlm_lm135m_random",
    "build_tiny_checkpoint",
    "qwen2_vl_2b_config",
    "sample_photos",
    "smolvlm_256m_config",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
