"""The reference model's architecture, tokenizer and processor: a tiny real Qwen2-VL.

Why Qwen2-VL: native dynamic resolution (a 224 px scene is 64 tokens, a 112 px image 16,
so `ResolutionPolicy` visibly changes what the model can read) and a native video path
(2-frame temporal patches, 3-D MRoPE), both served by vlmcli's engine. The classes,
special tokens and chat template are the hub ones (via `vlmcli.testing.qwen`); only the
sizes and a byte-level BPE trained on the world's own text are ours.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from bench.world.images import DETAIL
from bench.world.vocab import corpus
from vlmcli.testing import templates
from vlmcli.testing.checkpoint import init_model, save_checkpoint
from vlmcli.testing.qwen import MERGE, SPEC, TEMPORAL, _token_ids
from vlmcli.testing.tokenizer import padded_vocab_size, token_id

PATCH = 14
PIXELS_PER_TOKEN = (PATCH * MERGE) ** 2  # 28 x 28 pixels per merged visual token
MAX_IMAGE_TOKENS = (DETAIL // (PATCH * MERGE)) ** 2  # 64: a detail scene at full resolution
FRAME_TOKENS = 16  # per 2-frame temporal patch: 112 x 112 frames
MAX_VIDEO_TOKENS = 1024  # a 64-frame clip at 16 tokens per temporal patch fits 2x over
BPE_SIZE = 448  # 256 byte symbols + 192 merges: every world word is one or two tokens


@dataclass(frozen=True, kw_only=True)
class ReferenceSize:
    """Widths and depths; the defaults are what `models/reference` was trained with."""

    hidden: int = 128  # text width; head_dim 32 gives MRoPE 16 rotary pairs to split (t, h, w)
    layers: int = 4  # decoder layers
    heads: int = 4
    kv_heads: int = 2  # grouped-query attention, as the hub Qwen2-VL
    intermediate: int = 256  # decoder MLP width (2x hidden)
    vision_width: int = 64  # ViT embed_dim
    vision_layers: int = 4
    vision_heads: int = 4  # vision head_dim 16

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
    def mrope_section(self) -> list[int]:
        """(t, h, w) rotary pairs in the hub proportion 1/4, 3/8, 3/8 of head_dim / 2."""
        half = self.hidden // self.heads // 2
        t = half // 4
        h = (half - t) // 2
        return [t, h, half - t - h]


def world_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `vocab.corpus()` with Qwen2's special tokens and template.

    Like `vlmcli.testing.tokenizer.train_tokenizer`, but on the world's text, so answers
    are single tokens and prompts are short. Deterministic.
    """
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
    tokenizer.chat_template = templates.QWEN2_VL
    return tokenizer


def world_processor(tokenizer: PreTrainedTokenizerFast) -> Qwen2VLProcessor:
    """Images up to 64 tokens (a 224 x 224 scene at full size), frames at 16 tokens each."""
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 4 * PIXELS_PER_TOKEN, "longest_edge": MAX_IMAGE_TOKENS * PIXELS_PER_TOKEN},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
    )
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 4 * PIXELS_PER_TOKEN, "longest_edge": FRAME_TOKENS * PIXELS_PER_TOKEN},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        min_frames=2,
        max_frames=64,
        cap_pixels_per_frame=True,
        max_video_tokens=MAX_VIDEO_TOKENS,
    )
    return Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=templates.QWEN2_VL,
    )


def world_config(size: ReferenceSize, tokenizer: PreTrainedTokenizerFast) -> Qwen2VLConfig:
    ids = _token_ids(tokenizer)
    text_config = {
        "hidden_size": size.hidden,
        "intermediate_size": size.intermediate,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.kv_heads,
        "max_position_embeddings": 4096,
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": size.mrope_section},
        **ids.text_config_kwargs(),
    }
    vision_config = {
        "depth": size.vision_layers,
        "embed_dim": size.vision_width,
        "hidden_size": size.hidden,  # the merger projects into the text width
        "mlp_ratio": 2,
        "num_heads": size.vision_heads,
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
    }
    return Qwen2VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        vision_start_token_id=token_id(tokenizer=tokenizer, token="<|vision_start|>"),
        vision_end_token_id=token_id(tokenizer=tokenizer, token="<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build(size: ReferenceSize, *, seed: int) -> tuple[Qwen2VLForConditionalGeneration, Qwen2VLProcessor]:
    """A freshly initialised model (weights from `seed`) and its processor."""
    tokenizer = world_tokenizer()
    model = init_model(model_class=Qwen2VLForConditionalGeneration, config=world_config(size, tokenizer), seed=seed)
    return model, world_processor(tokenizer)


def save(model: Qwen2VLForConditionalGeneration, processor: Qwen2VLProcessor, out_dir: Path, *, meta: dict) -> Path:
    """`save_pretrained` folder (weights, config, generation config, processor) + training.json."""
    out_dir = save_checkpoint(model=model, processor=processor, token_ids=_token_ids(processor.tokenizer), out_dir=Path(out_dir))
    (out_dir / "training.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out_dir
