"""MiniCPM-V 4.6 checkpoints (`minicpmv4_6`, MiniCPMV4_6ForConditionalGeneration).

A SigLIP-style NaViT vision tower (14-px patches, learned position grid read at the nearest
position for any crop size) with a window-attention merger after layer `insert_layer_id`
(2x2 patches -> 1), then an MLP merger (2x2 -> 1) into a Qwen3.5 hybrid decoder (3 Gated
DeltaNet layers then 1 full-attention layer, as the `qwen3_5` builder). The processor cuts
each image into a thumbnail plus up to `max_slice_nums` slices of about
`scale_resolution`^2 pixels (`vlmcli.tiling.minicpmv4_6`) and packs every crop of every
image into one `pixel_values` (1, 3, 14, sum of crop patches * 14) with `target_sizes`
(crops, 2). Tiny: `scale_resolution` 112 (a crop of 8 x 8 patches = 4 tokens), up to 9
slices, so the sample photos cost 4 + 4 * 6 tokens or so.
"""

from dataclasses import replace
from pathlib import Path

from transformers import (
    MiniCPMV4_6Config,
    MiniCPMV4_6ForConditionalGeneration,
    MiniCPMV4_6ImageProcessor,
    MiniCPMV4_6Processor,
    MiniCPMV4_6VideoProcessor,
    PreTrainedTokenizerFast,
)

from vlmcli.testing import qwen3_5 as _qwen3_5
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
from vlmcli.testing.tokenizer import padded_vocab_size, token_id, train_tokenizer

PATCH = 14
SCALE_RESOLUTION = 112  # hub: 448 (a 448 x 448 crop: 32 x 32 patches -> 64 tokens)
MAX_SLICES = 9  # hub default
VIDEO_MAX_SLICES = 1  # frames: the thumbnail only, so clips stay cheap

# openbmb/MiniCPM-V-4.6's chat template, written from memory (not checked against the hub
# file): Qwen3's turns, each image an `<|image_pad|>` (video `<|video_pad|>`) where it
# appears (the processor wraps it in `<image_id>N</image_id><image>...</image>` and the
# slices), no default system turn; the generation prompt opens the assistant turn, with an
# empty closed `<think>` block when `enable_thinking=False`. Tool-call branches left out.
TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}<|image_pad|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|video_pad|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)

# Qwen3.5's special tokens, then MiniCPM-V's crop markers.
SPEC = replace(
    _qwen3_5.SPEC,
    trailing=(*_qwen3_5.SPEC.trailing, "<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>"),
)

NAMED_TOKENS = {  # the MiniCPM-V 4.6 processor reads these tokenizer attributes
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "image_start_token": "<image>",
    "image_end_token": "</image>",
    "slice_start_token": "<slice>",
    "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>",
    "image_id_end_token": "</image_id>",
}

_VISION = {
    "hidden_size": VISION_HIDDEN,
    "intermediate_size": VISION_INTERMEDIATE,
    "num_hidden_layers": VISION_LAYERS,
    "num_attention_heads": VISION_HEADS,
    "image_size": 8 * PATCH,  # an 8 x 8 position grid (hub: 70 x 70)
    "patch_size": PATCH,
}


def _text_config(tokenizer: PreTrainedTokenizerFast, ids: TokenIds) -> dict:
    return {
        "model_type": "qwen3_5_text",
        **TINY_TEXT.kwargs(),
        "num_hidden_layers": 4,
        "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        "head_dim": 16,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "rope_parameters": _qwen3_5._ROPE,
        **ids.text_config_kwargs(),
    }


def _processor(tokenizer: PreTrainedTokenizerFast) -> MiniCPMV4_6Processor:
    crops = {"scale_resolution": SCALE_RESOLUTION, "patch_size": PATCH}
    return MiniCPMV4_6Processor(
        image_processor=MiniCPMV4_6ImageProcessor(max_slice_nums=MAX_SLICES, **crops),
        video_processor=MiniCPMV4_6VideoProcessor(max_slice_nums=VIDEO_MAX_SLICES, max_num_frames=8, **crops),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )


def build_minicpmv4_6(out_dir: Path, *, seed: int = 0) -> Path:
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens=dict(NAMED_TOKENS))
    endoftext = token_id(tokenizer=tokenizer, token="<|endoftext|>")
    ids = TokenIds(bos=endoftext, eos=(tokenizer.eos_token_id, endoftext), pad=tokenizer.pad_token_id)
    config = MiniCPMV4_6Config(
        text_config=_text_config(tokenizer, ids),
        vision_config=_VISION,
        insert_layer_id=0,  # the window merger after the first of the 2 tiny layers (hub: 6 of 27)
        image_size=SCALE_RESOLUTION,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        tie_word_embeddings=False,
    )
    model = init_model(model_class=MiniCPMV4_6ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=_processor(tokenizer), token_ids=ids, out_dir=out_dir)
