"""Qwen3.5 checkpoints (`qwen3_5`, Qwen3_5ForConditionalGeneration; `qwen3_5_moe`,
Qwen3_5MoeForConditionalGeneration).

Qwen3-VL's vision side (16-px patches, 2x2 merge, learned position grid, Qwen3VLProcessor
and its video processor; no deepstack) in front of a hybrid language model: 3 of every 4
decoder layers are Gated DeltaNet (linear attention, whose cache is a convolution state and
a recurrent state), every 4th is full attention with interleaved MRoPE on a quarter of the
head (`partial_rotary_factor` 0.25). The tiny checkpoint keeps that layout: 4 layers, 3
linear then 1 full, so the engine's cache carries both kinds of state. The MoE variant
is the same model with every decoder MLP a sparse mixture of experts plus a gated shared
expert (tiny: 4 experts of width 32, 2 routed per token, shared expert of width 32).
"""

from dataclasses import replace
from pathlib import Path

from transformers import (
    PreTrainedConfig,
    PreTrainedTokenizerFast,
    Qwen3_5Config,
    Qwen3_5ForConditionalGeneration,
    Qwen3_5MoeConfig,
    Qwen3_5MoeForConditionalGeneration,
    Qwen3VLProcessor,
)

from vlmcli.testing import qwen as _qwen
from vlmcli.testing import templates
from vlmcli.testing.checkpoint import (
    TINY_TEXT,
    VISION_HEADS,
    VISION_HIDDEN,
    VISION_INTERMEDIATE,
    VISION_LAYERS,
    init_model,
    save_checkpoint,
)
from vlmcli.testing.qwen import (
    MERGE,
    QWEN3_VL,
    TEMPORAL,
    _image_processor,
    _token_ids,
    _video_processor,
)
from vlmcli.testing.tokenizer import padded_vocab_size, token_id, train_tokenizer

# Qwen3-VL's layout (no default system turn, images inline), and Qwen3.5's generation prompt:
# thinking is on by default, so the assistant turn opens a `<think>` block; with
# `enable_thinking=False` it gets an empty, closed one. The hub template's tool-call and
# reasoning-history branches are left out (vlmcli sends neither).
_GENERATION_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n"
TEMPLATE = templates.QWEN3_VL.replace(
    _GENERATION_PROMPT + "{% endif %}",
    _GENERATION_PROMPT
    + "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}",
)
assert TEMPLATE != templates.QWEN3_VL

# Qwen2/3 special tokens, then the tool-call and thinking tokens Qwen3.5's tokenizer adds.
SPEC = replace(
    _qwen.SPEC,
    trailing=(
        *_qwen.SPEC.trailing,
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
    ),
)

# head_dim 16, partial_rotary_factor 0.5 -> 8 rotary dims, 4 frequencies split (t, h, w) = [2, 1, 1]
# (hub: head_dim 256, factor 0.25 -> 64 dims, sections [11, 11, 10] of 32 frequencies).
_ROPE = {
    "rope_type": "default",
    "rope_theta": 10000000.0,
    "partial_rotary_factor": 0.5,
    "mrope_section": [2, 1, 1],
    "mrope_interleaved": True,
}

_VISION = {
    "depth": VISION_LAYERS,
    "hidden_size": VISION_HIDDEN,
    "intermediate_size": VISION_INTERMEDIATE,
    "num_heads": VISION_HEADS,
    "patch_size": 16,
    "spatial_merge_size": MERGE,
    "temporal_patch_size": TEMPORAL,
    "out_hidden_size": TINY_TEXT.hidden_size,
    "num_position_embeddings": 64,
}


# Qwen3.5-MoE's decoder MLPs (hub: 256 experts of width 512, 8 routed, shared expert 512).
_MOE_TEXT = {
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
}


def _config(
    tokenizer: PreTrainedTokenizerFast,
    config_class: type[PreTrainedConfig] = Qwen3_5Config,
    text_extra: dict | None = None,
) -> PreTrainedConfig:
    ids = _token_ids(tokenizer)
    text_config = {
        **TINY_TEXT.kwargs(),
        "num_hidden_layers": 4,
        "layer_types": [
            "linear_attention",
            "linear_attention",
            "linear_attention",
            "full_attention",
        ],
        "head_dim": 16,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "rope_parameters": _ROPE,
        **ids.text_config_kwargs(),
        **(text_extra or {}),
    }
    return config_class(
        text_config=text_config,
        vision_config=_VISION,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        vision_start_token_id=token_id(tokenizer=tokenizer, token="<|vision_start|>"),
        vision_end_token_id=token_id(tokenizer=tokenizer, token="<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build_qwen3_5(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(Qwen3_5ForConditionalGeneration, Qwen3_5Config, {}, out_dir, seed=seed)


def build_qwen3_5_moe(out_dir: Path, *, seed: int = 0) -> Path:
    return _build(
        Qwen3_5MoeForConditionalGeneration, Qwen3_5MoeConfig, _MOE_TEXT, out_dir, seed=seed
    )


def _build(
    model_class: type,
    config_class: type[PreTrainedConfig],
    text_extra: dict,
    out_dir: Path,
    *,
    seed: int,
) -> Path:
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    processor = Qwen3VLProcessor(
        image_processor=_image_processor(QWEN3_VL),
        tokenizer=tokenizer,
        video_processor=_video_processor(QWEN3_VL),
        chat_template=TEMPLATE,
    )
    model = init_model(
        model_class=model_class,
        config=_config(tokenizer, config_class, text_extra),
        seed=seed,
    )
    return save_checkpoint(
        model=model,
        processor=processor,
        token_ids=_token_ids(tokenizer),
        out_dir=out_dir,
    )
