"""InternVL (transformers' native `internvl`, e.g. OpenGVLab/InternVL3-1B-hf) checkpoints.

InternVL cuts an image into a grid of square tiles (`GotOcr2ImageProcessor` with
`crop_to_patches`: between `min_patches` and `max_patches` tiles, the grid whose aspect
ratio is closest to the image's) plus a thumbnail of the whole image when there is more
than one tile. Every tile goes through an InternViT tower; its patch features (CLS
dropped) are pixel-shuffled by `downsample_ratio` and projected, and each tile becomes
`image_seq_length` `<IMG_CONTEXT>` tokens, the whole image wrapped in `<img>` ... `</img>`.

Tiny sizes: 56-px tiles of 14-px patches -> 4x4 patches -> 2x2 = 4 tokens per tile
(hub: 448 px, 14 px, 256 tokens), at most 6 tiles (hub: 12), a Qwen2 decoder.
"""

from pathlib import Path

from transformers import (
    GotOcr2ImageProcessor,
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    InternVLVideoProcessor,
)

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

TILE = 56
PATCH = 14
DOWNSAMPLE = 0.5
MAX_PATCHES = 6
IMAGE_SEQ_LENGTH = int((TILE // PATCH) ** 2 * DOWNSAMPLE**2)  # 4

# Qwen2.5 layout (InternVL3-*-hf): specials after the vocab, then InternVL's own.
SPEC = TokenizerSpec(
    leading=(),
    trailing=(
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<img>",
        "</img>",
        "<IMG_CONTEXT>",
        "<quad>",
        "</quad>",
        "<ref>",
        "</ref>",
        "<box>",
        "</box>",
        "<video>",
    ),
    bos_token=None,
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,
)

NAMED_TOKENS = {  # the InternVL processor reads these tokenizer attributes
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}

# InternVL3-*-hf: Qwen2 turns; an image is "<IMG_CONTEXT>\n", a video "<video>\n", in content order.
TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_internvl(out_dir: Path, *, seed: int = 0) -> Path:
    """InternVL3-hf layout: 56-px tiles of 4 tokens, 1 to 6 tiles + thumbnail, Qwen2 decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens=dict(NAMED_TOKENS))
    ids = TokenIds(bos=None, eos=(tokenizer.eos_token_id, tokenizer.pad_token_id), pad=tokenizer.pad_token_id)
    config = InternVLConfig(
        vision_config={
            "model_type": "internvl_vision",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "image_size": [TILE, TILE],
            "patch_size": [PATCH, PATCH],
        },
        text_config={
            "model_type": "qwen2",
            **TINY_TEXT.kwargs(),
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            **ids.text_config_kwargs(),
        },
        image_token_id=token_id(tokenizer=tokenizer, token="<IMG_CONTEXT>"),
        image_seq_length=IMAGE_SEQ_LENGTH,
        downsample_ratio=DOWNSAMPLE,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    size = {"height": TILE, "width": TILE}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(
            size=size, crop_to_patches=False, min_patches=1, max_patches=MAX_PATCHES
        ),
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size=size),
        image_seq_length=IMAGE_SEQ_LENGTH,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=InternVLForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
