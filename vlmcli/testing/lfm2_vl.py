"""LFM2-VL (`lfm2_vl`, e.g. LiquidAI/LFM2-VL-450M) checkpoints.

A SigLIP2 NaFlex vision tower (variable resolution: each view keeps its own patch grid,
padded to a fixed patch count with an attention mask), a 2x2 pixel-unshuffle projector,
and an LFM2 decoder: a hybrid of gated short convolutions (`conv` layers, with a conv state
in the cache) and grouped-query attention. Small and medium images are one view resized
to whole 32-px cells (hub: 64..256 tokens); large ones are cut into 512-px tiles (2..10)
plus a thumbnail (`Lfm2VlImageProcessor`), each tile written as `<|img_row_R_col_C|>` and
its `<image>` run, the whole image between `<|image_start|>` and `<|image_end|>`.

Tiny sizes: 8-px patches, 16-px cells, 64-px tiles of 16 tokens, single views of 4..16
tokens, 2..4 tiles (hub: 16-px patches, 512-px tiles of 256 tokens, 64..256, 2..10), a
3-layer LFM2 (conv, attention, conv).
"""

from pathlib import Path

from transformers import (
    Lfm2VlConfig,
    Lfm2VlForConditionalGeneration,
    Lfm2VlImageProcessor,
    Lfm2VlProcessor,
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
from vlmcli.testing.tokenizer import (
    TokenizerSpec,
    padded_vocab_size,
    token_id,
    train_tokenizer,
)

PATCH = 8
DOWNSAMPLE = 2
TILE = 64
MIN_IMAGE_TOKENS = 4
MAX_IMAGE_TOKENS = 16
MIN_TILES = 2
MAX_TILES = 4
LAYER_TYPES = ("conv", "full_attention", "conv")
INIT_RANGE = 0.2  # larger than the hub's 0.02, so that the tiny decoder's answers depend on the prompt and image

# LFM2 layout: control tokens take the first ids, the image tokens follow the vocab.
SPEC = TokenizerSpec(
    leading=("<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>", "<|fim_suf|>",
             "<|im_start|>", "<|im_end|>"),
    trailing=("<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>",
              *(f"<|img_row_{r}_col_{c}|>" for r in range(1, 11) for c in range(1, 11))),
    bos_token="<|startoftext|>",
    eos_token="<|im_end|>",
    pad_token="<|pad|>",
    unk_token=None,
    prepend_bos=False,
)  # fmt: skip

# LFM2-VL's template: BOS, ChatML turns, an image is "<image>" in content order.
TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_lfm2_vl(out_dir: Path, *, seed: int = 0) -> Path:
    """LFM2-VL layout: SigLIP2 NaFlex 8-px patches, 64-px tiles + thumbnail, LFM2 conv/attention decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id,), pad=tokenizer.pad_token_id)
    text = TINY_TEXT.kwargs()
    text["num_hidden_layers"] = len(LAYER_TYPES)
    config = Lfm2VlConfig(
        vision_config={
            "model_type": "siglip2_vision_model",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "patch_size": PATCH,
            "num_patches": 16,  # a 4x4 position grid, interpolated to each view's
            "vision_use_head": False,
        },
        text_config={
            "model_type": "lfm2",
            **text,
            "layer_types": list(LAYER_TYPES),
            "block_auto_adjust_ff_dim": False,
            "initializer_range": INIT_RANGE,
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            "tie_word_embeddings": True,
            **ids.text_config_kwargs(),
        },
        image_token_id=token_id(tokenizer=tokenizer, token="<image>"),
        projector_hidden_size=64,
        downsample_factor=DOWNSAMPLE,
        tie_word_embeddings=True,
        initializer_range=INIT_RANGE,
    )
    processor = Lfm2VlProcessor(
        image_processor=Lfm2VlImageProcessor(
            encoder_patch_size=PATCH,
            downsample_factor=DOWNSAMPLE,
            tile_size=TILE,
            min_image_tokens=MIN_IMAGE_TOKENS,
            max_image_tokens=MAX_IMAGE_TOKENS,
            min_tiles=MIN_TILES,
            max_tiles=MAX_TILES,
        ),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=Lfm2VlForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
