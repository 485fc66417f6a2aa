"""Shared pieces of every tiny-checkpoint builder: sizes, seeded init, generation config, saving.

Why: each family file only describes what is special about the family (configs, processor,
special tokens); how a checkpoint folder is made is the same for all and lives here.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig, PreTrainedConfig, PreTrainedModel, ProcessorMixin


@dataclass(frozen=True, kw_only=True)
class TextSize:
    """Decoder size; the field names are the ones every HF decoder config uses."""

    hidden_size: int = 64  # 4 heads of 16: mrope sections and RoPE need an even head_dim
    intermediate_size: int = 128
    num_hidden_layers: int = 2  # 2 so that "second to last layer" features exist
    num_attention_heads: int = 4
    num_key_value_heads: int = 2  # grouped-query attention, like every family here
    max_position_embeddings: int = 4096

    def kwargs(self) -> dict[str, int]:
        return asdict(self)


TINY_TEXT = TextSize()
VISION_HIDDEN = 32  # width of every tiny vision tower
VISION_INTERMEDIATE = 64
VISION_LAYERS = 2  # LLaVA takes features from layer -2
VISION_HEADS = 2


@dataclass(frozen=True, kw_only=True)
class TokenIds:
    """Token ids that must agree across config, generation config and tokenizer."""

    bos: int | None
    eos: tuple[int, ...]  # first is the tokenizer's eos; the rest also stop generation
    pad: int

    def text_config_kwargs(self) -> dict[str, int | None]:
        return {"bos_token_id": self.bos, "eos_token_id": self.eos[0], "pad_token_id": self.pad}

    def generation_config(self) -> GenerationConfig:
        eos: int | list[int] = self.eos[0] if len(self.eos) == 1 else list(self.eos)
        return GenerationConfig(bos_token_id=self.bos, eos_token_id=eos, pad_token_id=self.pad, do_sample=False)


def init_model(*, model_class: type[PreTrainedModel], config: PreTrainedConfig, seed: int) -> PreTrainedModel:
    """Random float32 weights from `seed`, without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    return model.to(torch.float32).eval()


def save_checkpoint(
    *,
    model: PreTrainedModel,
    processor: ProcessorMixin,
    token_ids: TokenIds,
    out_dir: Path,
) -> Path:
    """Write model weights, config, generation config and processor files into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config = token_ids.generation_config()
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
