"""Tiny offline checkpoints of every supported VLM family, for tests and benchmarks.

Each builder writes a folder that loads with `AutoProcessor.from_pretrained` and
`AutoModelForImageTextToText.from_pretrained` like a hub model: real config, model, processor
and tokenizer classes at tiny sizes, a BPE tokenizer trained offline with the family's
special tokens and chat template, and random weights from a fixed seed.
"""

from vlmcli.testing.builders import FAMILIES, build_tiny_checkpoint
from vlmcli.testing.idefics3 import build_smolvlm_256m_random, smolvlm_256m_config
from vlmcli.testing.media import sample_photos

__all__ = [
    "FAMILIES",
    "build_smolvlm_256m_random",
    "build_tiny_checkpoint",
    "sample_photos",
    "smolvlm_256m_config",
]
