"""The reference model's architecture, tokenizer and processor: a tiny real Qwen3-VL.

Why Qwen3-VL: native dynamic resolution (a 256 px scene is 64 tokens, a 128 px image 16,
so `ResolutionPolicy` visibly changes what the model can read), a native video path
(2-frame temporal patches with text timestamps), and absolute position information where
a tiny model needs it: learned position embeddings in the vision tower (started from a
2-D sine-cosine table, see `build`) and interleaved MRoPE in the decoder (Qwen2-VL's
chunked MRoPE leaves the width axis only the lowest rotary frequencies). A Qwen2-VL of
the same size learned the colour tasks at the same speed in our runs; neither learned
question-conditioned binding ("the red one") within the budget (models/reference/README.md).
The classes, special tokens and chat template are the hub ones (via `vlmcli.testing`);
only the sizes and a byte-level BPE trained on the world's own text are ours.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLImageProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

from models.world.images import DETAIL
from models.world.vocab import corpus
from vlmcli.testing import templates
from vlmcli.testing.checkpoint import init_model, save_checkpoint
from vlmcli.testing.qwen import MERGE, QWEN3_VL_MEAN_STD, SPEC, TEMPORAL, _token_ids
from vlmcli.testing.tokenizer import padded_vocab_size, token_id

if TYPE_CHECKING:
    import torch

PATCH = 16
FACTOR = PATCH * MERGE  # 32 px per merged visual token side
MAX_IMAGE_TOKENS = (DETAIL // FACTOR) ** 2  # 64: a detail scene at full resolution
FRAME_TOKENS = 16  # per 2-frame temporal patch: 128 x 128 frames
MAX_FRAMES = 64  # a whole world clip fits the video budget
BPE_SIZE = 448  # 256 byte symbols + 192 merges: every answer is one token


@dataclass(frozen=True, kw_only=True)
class ReferenceSize:
    """Widths and depths; the defaults are what `models/reference` was trained with."""

    hidden: int = 128  # text width
    layers: int = 4  # decoder layers
    heads: int = 4  # head_dim 32: 16 rotary pairs interleaved over (t, h, w)
    kv_heads: int = 2  # grouped-query attention, as the hub models
    intermediate: int = 256  # decoder MLP width (2x hidden)
    vision_width: int = 64  # ViT hidden size
    vision_layers: int = 4
    vision_heads: int = 4  # vision head_dim 16
    position_grid: int = 16  # learned vision position embeddings: a 16 x 16 grid (a detail scene's patches)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden % self.heads or (self.hidden // self.heads) % 8:
            raise ValueError("hidden / heads must be a multiple of 8 (MRoPE splits head_dim / 2 in 3)")
        if self.heads % self.kv_heads:
            raise ValueError("heads must be a multiple of kv_heads")
        if self.vision_width % self.vision_heads or (self.vision_width // self.vision_heads) % 4:
            raise ValueError("vision_width / vision_heads must be a multiple of 4 (2-D rotary)")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def mrope_section(self) -> list[int]:
        """(t, h, w) rotary pairs in the hub proportion 24:20:20 of head_dim / 2."""
        half = self.head_dim // 2
        h = half * 5 // 16
        return [half - 2 * h, h, h]


def world_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `vocab.corpus()` with Qwen's special tokens and the
    Qwen3-VL chat template. Like `vlmcli.testing.tokenizer.train_tokenizer`, but on the
    world's text, so answers are single tokens and prompts are short. Deterministic."""
    backend = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(corpus(), trainer=trainer)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPEC.trailing])
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    named = {SPEC.eos_token, SPEC.pad_token}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,
        eos_token=SPEC.eos_token,
        pad_token=SPEC.pad_token,
        unk_token=None,
        extra_special_tokens=[t for t in SPEC.trailing if t not in named],
        padding_side="left",
        model_max_length=SPEC.model_max_length,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = templates.QWEN3_VL
    return tokenizer


def world_processor(tokenizer: PreTrainedTokenizerFast) -> Qwen3VLProcessor:
    """Images up to 64 tokens (a 256 x 256 scene at full size); frames at 16 tokens each
    (128 x 128) for clips of up to 64 frames."""
    pixels_per_token = FACTOR * FACTOR
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 4 * pixels_per_token, "longest_edge": MAX_IMAGE_TOKENS * pixels_per_token},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        image_mean=QWEN3_VL_MEAN_STD,
        image_std=QWEN3_VL_MEAN_STD,
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": 2 * 4 * pixels_per_token, "longest_edge": MAX_FRAMES * FRAME_TOKENS * pixels_per_token},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        min_frames=2,
        max_frames=MAX_FRAMES,
        cap_pixels_per_frame=True,
        max_video_tokens=FRAME_TOKENS,  # per-frame ceiling: 128 x 128
        image_mean=QWEN3_VL_MEAN_STD,
        image_std=QWEN3_VL_MEAN_STD,
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=templates.QWEN3_VL,
    )


def world_config(size: ReferenceSize, tokenizer: PreTrainedTokenizerFast) -> Qwen3VLConfig:
    ids = _token_ids(tokenizer)
    text_config = {
        "hidden_size": size.hidden,
        "intermediate_size": size.intermediate,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.kv_heads,
        "head_dim": size.head_dim,
        "max_position_embeddings": 4096,
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "rope_parameters": {
            "rope_type": "default", "rope_theta": 10000.0, "mrope_section": size.mrope_section, "mrope_interleaved": True,
        },
        **ids.text_config_kwargs(),
    }
    vision_config = {
        "depth": size.vision_layers,
        "hidden_size": size.vision_width,
        "intermediate_size": 2 * size.vision_width,
        "num_heads": size.vision_heads,
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
        "out_hidden_size": size.hidden,
        "num_position_embeddings": size.position_grid**2,
        "deepstack_visual_indexes": [size.vision_layers // 2 - 1],  # mid-tower features into decoder layer 0
    }
    return Qwen3VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        vision_start_token_id=token_id(tokenizer=tokenizer, token="<|vision_start|>"),
        vision_end_token_id=token_id(tokenizer=tokenizer, token="<|vision_end|>"),
        tie_word_embeddings=False,
    )


def sincos_grid(*, side: int, width: int) -> "torch.Tensor":
    """(side * side, width) 2-D sine-cosine position table (MAE style), raster order: the
    first half of the channels encodes the row, the second half the column."""
    import torch

    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (W/4,)
    pos = torch.arange(side, dtype=torch.float64)  # (S,)
    angles = pos[:, None] * omega[None, :]  # (S, W/4)
    axis = torch.cat([angles.sin(), angles.cos()], dim=1)  # (S, W/2)
    rows = axis[:, None, :].expand(side, side, -1)  # (S, S, W/2) by row
    cols = axis[None, :, :].expand(side, side, -1)  # (S, S, W/2) by column
    return torch.cat([rows, cols], dim=-1).reshape(side * side, -1).float()  # (S*S, W)


def build(size: ReferenceSize, *, seed: int) -> tuple[Qwen3VLForConditionalGeneration, Qwen3VLProcessor]:
    """A freshly initialised model (weights from `seed`) and its processor.

    The vision tower's learned position embeddings start from a 2-D sine-cosine table
    (MAE style) instead of N(0, 0.02), so every patch feature carries its absolute place
    from the first step, on the scale of the patch embedding; they stay trainable.
    """
    import torch

    tokenizer = world_tokenizer()
    model = init_model(model_class=Qwen3VLForConditionalGeneration, config=world_config(size, tokenizer), seed=seed)
    with torch.no_grad():
        model.model.visual.pos_embed.weight.copy_(sincos_grid(side=size.position_grid, width=size.vision_width))
    return model, world_processor(tokenizer)


def save(model, processor, out_dir: Path, *, meta: dict) -> Path:
    """`save_pretrained` folder (weights, config, generation config, processor) + training.json."""
    out_dir = save_checkpoint(model=model, processor=processor, token_ids=_token_ids(processor.tokenizer), out_dir=Path(out_dir))
    (out_dir / "training.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out_dir
