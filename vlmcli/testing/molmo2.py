"""Molmo 2 checkpoints (`molmo2`, Molmo2ForConditionalGeneration; e.g. allenai/Molmo2-8B).

A ViT (patches flattened by the processor, learned positions for one square crop), an
adapter that pools each 2x2 window of patch features (features of two ViT layers,
concatenated) with one cross-attention query and projects it, and a Qwen3-style decoder
(q/k norm per head). Each image is a low-resolution view of the whole image (one square
crop) followed by overlapping high-resolution crops, written as
`<low_res_im_start>` + rows x (`<im_patch>` x cols + `<im_col>`) + `<im_end>`, then
`<im_start>` + the same for the pooled crop canvas + `<im_end>`; the features are *added*
to the `<im_patch>` embeddings, and every image token attends to every other one at
prefill (`mm_token_type_ids`). Videos: frames resized to one crop, pooled 3x3, each frame
`{time} <frame_start>` + `<im_patch>` x (rows x cols) + `<frame_end>`.

Tiny sizes (hub in brackets): 28-px crops [378] of 4-px patches [14] -> 7x7 patches,
overlap margins 1+1 patches [4+4], up to 8 crops [8], 2x2 pooling [2x2] -> 4x4 low-res
tokens [14x14]; video frames pooled 3x3 [3x3] -> 3x3 tokens per frame [9x9].
Vocabulary: hub Molmo 2 keeps the Qwen vocabulary in `vocab_size` and its image tokens in
`additional_vocab_size` rows after it; here every token fits in `vocab_size` (the
checkpoint tests require `vocab_size >= len(tokenizer)`) and the additional rows exist but
are unused.
"""

from pathlib import Path

from transformers import (
    Molmo2Config,
    Molmo2ForConditionalGeneration,
    Molmo2ImageProcessor,
    Molmo2Processor,
    Molmo2VideoProcessor,
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

CROP = 28
PATCH = 4
MAX_CROPS = 8
MARGINS = (1, 1)
IMAGE_POOLING = (2, 2)
VIDEO_POOLING = (3, 3)
ADDITIONAL_VOCAB = 64

# Qwen layout (Molmo 2 uses Qwen3's tokenizer): the Qwen specials after the vocab, then
# Molmo's image tokens in the order of the hub ids (151936 <im_start>, 151937 <im_end>,
# 151938 <im_patch>, 151939 <im_col>, 151940 <low_res_im_start>, ... 151943 <frame_start>,
# 151944 <frame_end>). The processor puts `bos_token` (<|endoftext|>) in front of every
# prompt; an assistant turn ends with <|im_end|>.
SPEC = TokenizerSpec(
    leading=(),
    trailing=(
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<im_start>",
        "<im_end>",
        "<im_patch>",
        "<im_col>",
        "<low_res_im_start>",
        "<|image|>",
        "<im_low>",
        "<frame_start>",
        "<frame_end>",
        "<|video|>",
    ),
    bos_token="<|endoftext|>",
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,  # Molmo2Processor prepends it
)

NAMED_TOKENS = {"image_token": "<|image|>", "video_token": "<|video|>"}  # read by Molmo2Processor

# allenai/Molmo2-8B's chat template, trimmed to what vlmcli sends (no demo styles, no
# subtitle turn), following the template in allenai's Molmo 2 conversion script: every image
# and video placeholder goes before the conversation (one image: `<|image|>`; several:
# `Image 1<|image|>Image 2<|image|>`), then `<|im_start|>role\n` turns whose text parts are
# joined by spaces; roles must alternate user/assistant (no system role: the adapter folds
# a system prompt into the user text), an assistant turn is closed by the next user turn.
TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if message['content'] is not string %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% elif content['type'] == 'video' or 'video' in content or 'video_url' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if image_count.value == 1 %}{{ '<|image|>' }}"
    "{% elif image_count.value > 1 %}{% for i in range(image_count.value) %}{{ 'Image ' ~ (i + 1) ~ '<|image|>' }}"
    "{% endfor %}{% endif %}"
    "{% for _ in range(video_count.value) %}{{ '<|video|>' }}{% endfor %}"
    "{% for message in messages %}{% set role = message['role'].lower() %}"
    "{% if (loop.index % 2 == 1 and role != 'user') or (loop.index % 2 == 0 and role != 'assistant') %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['content'] is string %}{% set text_content = message['content'] %}"
    "{% else %}{% set m = namespace(text='') %}{% for content in message['content'] %}"
    "{% if content['type'] == 'text' %}{% set m.text = m.text ~ ('' if not m.text else ' ') ~ content['text'] %}"
    "{% endif %}{% endfor %}{% set text_content = m.text %}{% endif %}"
    "{% if role == 'user' %}{% if not loop.first %}{{ '<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>user\\n' }}{{ text_content }}{{ '<|im_end|>\\n' }}"
    "{% else %}{{ '<|im_start|>assistant\\n' }}{{ text_content }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _image_processor() -> Molmo2ImageProcessor:
    return Molmo2ImageProcessor(
        size={"height": CROP, "width": CROP},
        patch_size=PATCH,
        max_crops=MAX_CROPS,
        overlap_margins=list(MARGINS),
        pooling_size=list(IMAGE_POOLING),
    )


def _video_processor() -> Molmo2VideoProcessor:
    return Molmo2VideoProcessor(
        size={"height": CROP, "width": CROP}, patch_size=PATCH, pooling_size=list(VIDEO_POOLING)
    )


def build_molmo2(out_dir: Path, *, seed: int = 0) -> Path:
    """Molmo2-8B layout: 28-px crops of 4-px patches, 2x2-pooled image tokens, Qwen3-style decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens=dict(NAMED_TOKENS))
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id,), pad=tokenizer.pad_token_id)
    head_dim = TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads
    vision_head_dim = VISION_HIDDEN // VISION_HEADS

    def tid(token: str) -> int:
        return token_id(tokenizer=tokenizer, token=token)

    config = Molmo2Config(
        vision_config={
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "num_key_value_heads": VISION_HEADS,
            "head_dim": vision_head_dim,
            "image_size": [CROP, CROP],
            "patch_size": PATCH,
        },
        adapter_config={
            "vision_feature_layer": [VISION_LAYERS - 1, 0],  # hub: [24, 18], the last and an earlier layer
            "hidden_size": VISION_HIDDEN,
            "num_attention_heads": VISION_HEADS,
            "num_key_value_heads": VISION_HEADS,
            "head_dim": vision_head_dim,
            "intermediate_size": VISION_INTERMEDIATE,
            "text_hidden_size": TINY_TEXT.hidden_size,
        },
        text_config={
            **TINY_TEXT.kwargs(),
            "head_dim": head_dim,
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            "additional_vocab_size": ADDITIONAL_VOCAB,
            **ids.text_config_kwargs(),
        },
        image_start_token_id=tid("<im_start>"),
        low_res_image_start_token_id=tid("<low_res_im_start>"),
        image_end_token_id=tid("<im_end>"),
        image_patch_id=tid("<im_patch>"),
        frame_start_token_id=tid("<frame_start>"),
        frame_end_token_id=tid("<frame_end>"),
    )
    processor = Molmo2Processor(
        image_processor=_image_processor(),
        video_processor=_video_processor(),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=Molmo2ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
