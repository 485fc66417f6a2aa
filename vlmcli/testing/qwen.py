"""Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3-VL-MoE checkpoints.

Qwen models see an image at (nearly) its own aspect ratio: `smart_resize` picks a size that is
a multiple of patch_size * merge_size with min_pixels <= h * w <= max_pixels, and every 2x2
block of patches becomes one `<|image_pad|>` token. The tiny pixel budgets below give
4 to 32 tokens per image.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from transformers import (
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLMoeConfig,
    Qwen3VLMoeForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

from vlmcli.testing import templates
from vlmcli.testing.checkpoint import (
    TINY_TEXT,
    VISION_HEADS,
    VISION_HIDDEN,
    VISION_INTERMEDIATE,
    VISION_LAYERS,
    TokenIds,
    init_model,
    save_checkpoint,
)
from vlmcli.testing.tokenizer import TokenizerSpec, padded_vocab_size, token_id, train_tokenizer

MERGE = 2  # spatial_merge_size: 2x2 patches -> 1 token
TEMPORAL = 2  # temporal_patch_size: an image is repeated to 2 frames
MIN_TOKENS = 4  # per image, after merging
MAX_TOKENS = 32
QWEN3_VL_MEAN_STD = [0.5, 0.5, 0.5]

SPEC = TokenizerSpec(
    leading=(),
    trailing=(  # Qwen2 layout: specials after the BPE vocab, in the hub order
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|object_ref_start|>",
        "<|object_ref_end|>",
        "<|box_start|>",
        "<|box_end|>",
        "<|quad_start|>",
        "<|quad_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ),
    bos_token=None,
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,
)


@dataclass(frozen=True, kw_only=True)
class QwenFamily:
    """What differs between the Qwen VL generations."""

    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    processor_class: type[ProcessorMixin]
    video_processor_class: type
    patch_size: int  # 14 for Qwen2/2.5-VL, 16 for Qwen3-VL
    template: str
    image_mean_std: list[float] | None  # None: the processor's default (OpenAI CLIP)
    vision_config: dict
    text_extra: dict  # text config fields beyond the shared tiny size
    video_pixels_over_all_frames: bool  # Qwen3-VL budgets pixels over the whole clip

    @property
    def factor(self) -> int:
        return self.patch_size * MERGE


def _tokenizer(template: str) -> PreTrainedTokenizerFast:
    return train_tokenizer(spec=SPEC, chat_template=template)


def _token_ids(tokenizer: PreTrainedTokenizerFast) -> TokenIds:
    endoftext = token_id(tokenizer=tokenizer, token="<|endoftext|>")
    # Qwen keeps bos_token_id = <|endoftext|> in the model config although the tokenizer has no BOS.
    return TokenIds(bos=endoftext, eos=(tokenizer.eos_token_id, endoftext), pad=tokenizer.pad_token_id)


def _image_processor(family: QwenFamily) -> Qwen2VLImageProcessor:
    pixels_per_token = family.factor**2
    kwargs = {}
    if family.image_mean_std is not None:
        kwargs = {"image_mean": family.image_mean_std, "image_std": family.image_mean_std}
    return Qwen2VLImageProcessor(
        size={"shortest_edge": MIN_TOKENS * pixels_per_token, "longest_edge": MAX_TOKENS * pixels_per_token},
        patch_size=family.patch_size,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        **kwargs,
    )


def _video_processor(family: QwenFamily):
    """At most 16 tokens per frame pair and 8 frames; per-frame cap as in qwen-vl-utils."""
    pixels_per_token = family.factor**2
    kwargs = {}
    if family.image_mean_std is not None:
        kwargs = {"image_mean": family.image_mean_std, "image_std": family.image_mean_std}
    if family.video_pixels_over_all_frames:  # Qwen3-VL: budget over the clip, token cap per frame
        size = {"shortest_edge": 2 * MIN_TOKENS * pixels_per_token, "longest_edge": 8 * 16 * pixels_per_token}
        max_video_tokens = 16
    else:  # Qwen2/2.5-VL: budget per frame, token cap over the clip
        size = {"shortest_edge": MIN_TOKENS * pixels_per_token, "longest_edge": 16 * pixels_per_token}
        max_video_tokens = 64
    return family.video_processor_class(
        size=size,
        patch_size=family.patch_size,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        min_frames=2,
        max_frames=8,
        cap_pixels_per_frame=True,  # the reference behaviour; also silences a transformers warning
        max_video_tokens=max_video_tokens,
        **kwargs,
    )


def _config(
    *, family: QwenFamily, tokenizer: PreTrainedTokenizerFast, text: dict | None = None, vision: dict | None = None,
    tie: bool = False,
) -> PreTrainedConfig:
    """The family's config at the tiny size, or at `text`/`vision` sizes (`tie`: tied embeddings)."""
    ids = _token_ids(tokenizer)
    text_config = {
        **(TINY_TEXT.kwargs() if text is None else {}),
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": tie,
        **ids.text_config_kwargs(),
        **family.text_extra,
        **(text or {}),
    }
    return family.config_class(
        text_config=text_config,
        vision_config=family.vision_config if vision is None else vision,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        vision_start_token_id=token_id(tokenizer=tokenizer, token="<|vision_start|>"),
        vision_end_token_id=token_id(tokenizer=tokenizer, token="<|vision_end|>"),
        tie_word_embeddings=tie,
    )


def _build(family: QwenFamily, out_dir: Path, *, seed: int) -> Path:
    tokenizer = _tokenizer(family.template)
    processor = family.processor_class(
        image_processor=_image_processor(family),
        tokenizer=tokenizer,
        video_processor=_video_processor(family),
        chat_template=family.template,
    )
    model = init_model(model_class=family.model_class, config=_config(family=family, tokenizer=tokenizer), seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=_token_ids(tokenizer), out_dir=out_dir)


# head_dim 16 -> 8 rotary frequencies split over (time, height, width); hub: [16, 24, 24] of 64.
_QWEN2_ROPE = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}
# Qwen3-VL interleaves the sections; hub: [24, 20, 20] of 64.
_QWEN3_ROPE = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [4, 2, 2], "mrope_interleaved": True}

_QWEN3_VISION = {
    "depth": VISION_LAYERS,
    "hidden_size": VISION_HIDDEN,
    "intermediate_size": VISION_INTERMEDIATE,
    "num_heads": VISION_HEADS,
    "patch_size": 16,
    "spatial_merge_size": MERGE,
    "temporal_patch_size": TEMPORAL,
    "out_hidden_size": TINY_TEXT.hidden_size,
    "num_position_embeddings": 64,  # an 8x8 learned grid, interpolated to the image's patch grid
    "deepstack_visual_indexes": [0, 1],  # features of these vision layers are added to the first text layers
}

QWEN2_VL = QwenFamily(
    config_class=Qwen2VLConfig,
    model_class=Qwen2VLForConditionalGeneration,
    processor_class=Qwen2VLProcessor,
    video_processor_class=Qwen2VLVideoProcessor,
    patch_size=14,
    template=templates.QWEN2_VL,
    image_mean_std=None,
    vision_config={
        "depth": VISION_LAYERS,
        "embed_dim": VISION_HIDDEN,
        "hidden_size": TINY_TEXT.hidden_size,  # the merger projects into the text width
        "mlp_ratio": 2,
        "num_heads": VISION_HEADS,
        "patch_size": 14,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
    },
    text_extra={"rope_parameters": _QWEN2_ROPE},
    video_pixels_over_all_frames=False,
)

QWEN2_5_VL = QwenFamily(
    config_class=Qwen2_5_VLConfig,
    model_class=Qwen2_5_VLForConditionalGeneration,
    processor_class=Qwen2_5_VLProcessor,
    video_processor_class=Qwen2VLVideoProcessor,
    patch_size=14,
    template=templates.QWEN2_VL,
    image_mean_std=None,
    vision_config={
        "depth": VISION_LAYERS,
        "hidden_size": VISION_HIDDEN,
        "intermediate_size": VISION_INTERMEDIATE,
        "num_heads": VISION_HEADS,
        "patch_size": 14,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
        "window_size": 56,  # windowed attention over 2x2 merged tokens (hub: 112)
        "fullatt_block_indexes": [1],  # last layer attends globally (hub: 7, 15, 23, 31)
        "out_hidden_size": TINY_TEXT.hidden_size,
        "tokens_per_second": 2,
    },
    text_extra={"rope_parameters": _QWEN2_ROPE},
    video_pixels_over_all_frames=False,
)

QWEN3_VL = QwenFamily(
    config_class=Qwen3VLConfig,
    model_class=Qwen3VLForConditionalGeneration,
    processor_class=Qwen3VLProcessor,
    video_processor_class=Qwen3VLVideoProcessor,
    patch_size=16,
    template=templates.QWEN3_VL,
    image_mean_std=QWEN3_VL_MEAN_STD,
    vision_config=_QWEN3_VISION,
    text_extra={"head_dim": 16, "rope_parameters": _QWEN3_ROPE},
    video_pixels_over_all_frames=True,
)

QWEN3_VL_MOE = QwenFamily(
    config_class=Qwen3VLMoeConfig,
    model_class=Qwen3VLMoeForConditionalGeneration,
    processor_class=Qwen3VLProcessor,
    video_processor_class=Qwen3VLVideoProcessor,
    patch_size=16,
    template=templates.QWEN3_VL,
    image_mean_std=QWEN3_VL_MEAN_STD,
    vision_config=_QWEN3_VISION,
    text_extra={
        "head_dim": 16,
        "rope_parameters": _QWEN3_ROPE,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "decoder_sparse_step": 1,  # every layer is MoE
        "mlp_only_layers": [],
    },
    video_pixels_over_all_frames=True,
)


def build_qwen2_vl(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(QWEN2_VL, out_dir, seed=seed)


def build_qwen2_5_vl(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(QWEN2_5_VL, out_dir, seed=seed)


def build_qwen3_vl(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(QWEN3_VL, out_dir, seed=seed)


def build_qwen3_vl_moe(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(QWEN3_VL_MOE, out_dir, seed=seed)


# Hugging Face Qwen/Qwen2-VL-2B-Instruct config.json, as sizes (2.21B parameters).
QWEN2_VL_2B_TEXT = {
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "vocab_size": 151936,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
QWEN2_VL_2B_VISION = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,
    "mlp_ratio": 4,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": MERGE,
    "temporal_patch_size": TEMPORAL,
}
QWEN2_VL_2B_TOKENIZER = 151657  # len(tokenizer) of the hub checkpoint
QWEN2_VL_PIXELS = (56 * 56, 28 * 28 * 1280)  # the hub processor's min_pixels, max_pixels


def _qwen2_vl_2b_tokenizer() -> PreTrainedTokenizerFast:
    from vlmcli.testing.tokenizer import train_tokenizer

    return train_tokenizer(spec=SPEC, total_size=QWEN2_VL_2B_TOKENIZER, chat_template=QWEN2_VL.template)


def qwen2_vl_2b_config(tokenizer: PreTrainedTokenizerFast | None = None) -> PreTrainedConfig:
    """The real-size Qwen2-VL-2B config alone (no weights), e.g. to count parameters."""
    tokenizer = _qwen2_vl_2b_tokenizer() if tokenizer is None else tokenizer
    return _config(family=QWEN2_VL, tokenizer=tokenizer, text=QWEN2_VL_2B_TEXT, vision=QWEN2_VL_2B_VISION, tie=True)


def build_qwen2_vl_2b_random(out_dir: Path, *, seed: int = 0) -> Path:
    """Random weights at the real Qwen2-VL-2B size, for CPU benchmarks (saved in bfloat16, ~4.4 GB;
    building needs ~9 GB of memory for a minute or two).

    Hub sizes throughout (28-layer 1536-wide text model with tied embeddings and 151,936
    logits, 32-layer 1280-wide vision tower, hub pixel bounds); the tokenizer is the tests'
    small trained one padded with filler entries to the hub's 151,657 ids.
    """
    tokenizer = _qwen2_vl_2b_tokenizer()
    low, high = QWEN2_VL_PIXELS
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            size={"shortest_edge": low, "longest_edge": high}, patch_size=14, temporal_patch_size=TEMPORAL, merge_size=MERGE
        ),
        tokenizer=tokenizer,
        video_processor=_video_processor(QWEN2_VL),
        chat_template=QWEN2_VL.template,
    )
    model = init_model(model_class=QWEN2_VL.model_class, config=qwen2_vl_2b_config(tokenizer), seed=seed).to(torch.bfloat16)
    return save_checkpoint(model=model, processor=processor, token_ids=_token_ids(tokenizer), out_dir=out_dir)
