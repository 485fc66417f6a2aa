"""Mistral 3 (`mistral3`, e.g. mistralai/Mistral-Small-3.1-24B-Instruct-2503) checkpoints.

A Pixtral vision tower at variable resolution (the image keeps its aspect ratio, at most
`longest_edge` px, each side rounded up to whole `patch_size * spatial_merge_size` cells),
2x2 patch merging, and a Mistral decoder. Each cell is one `[IMG]` token, each row of
cells ends in `[IMG_BREAK]`, the last one in `[IMG_END]` (`PixtralProcessor`).

Tiny sizes: 8-px patches merged 2x2 -> 16-px cells, `longest_edge` 96 (at most 6x6 = 36
tokens; hub: 14-px patches, 28-px cells, 1540 px, 55x55), a tower whose RoPE covers 192 px
(so a `--min-pixels` floor can raise the edge to 192; hub: 1540).
"""

from pathlib import Path

from transformers import (
    Mistral3Config,
    Mistral3ForConditionalGeneration,
    PixtralImageProcessor,
    PixtralProcessor,
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
MERGE = 2
LONGEST_EDGE = 96
TOWER_EDGE = 192

# Tekken layout (Mistral-Small-3.1): control tokens take the first ids.
SPEC = TokenizerSpec(
    leading=(
        "<unk>",
        "<s>",
        "</s>",
        "[INST]",
        "[/INST]",
        "[IMG]",
        "<pad>",
        "[IMG_BREAK]",
        "[IMG_END]",
        "[SYSTEM_PROMPT]",
        "[/SYSTEM_PROMPT]",
    ),
    trailing=(),
    bos_token="<s>",
    eos_token="</s>",
    pad_token="<pad>",
    unk_token="<unk>",
    prepend_bos=False,  # the chat template writes <s> itself
)

# Mistral-Small-3.1's template, trimmed: no default system prompt (the hub one has a long
# one with today's date), images as [IMG] where they appear in the content.
TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ '[SYSTEM_PROMPT]' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}{{ block['text'] }}{% endfor %}{% endif %}"
    "{{ '[/SYSTEM_PROMPT]' }}"
    "{% elif message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ '[INST]' + message['content'] + '[/INST]' }}"
    "{% else %}{{ '[INST]' }}{% for block in message['content'] %}"
    "{% if block['type'] == 'text' %}{{ block['text'] }}"
    "{% elif block['type'] in ['image', 'image_url'] %}{{ '[IMG]' }}{% endif %}"
    "{% endfor %}{{ '[/INST]' }}{% endif %}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}{{ block['text'] }}{% endfor %}{% endif %}"
    "{{ eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)


def build_mistral3(out_dir: Path, *, seed: int = 0) -> Path:
    """Mistral-Small-3.1 layout: Pixtral 8-px patches, 2x2 merge, longest edge 96, Mistral decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id,), pad=tokenizer.pad_token_id)
    config = Mistral3Config(
        vision_config={
            "model_type": "pixtral",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "head_dim": VISION_HIDDEN // VISION_HEADS,
            "image_size": TOWER_EDGE,
            "patch_size": PATCH,
        },
        text_config={
            "model_type": "mistral",
            **TINY_TEXT.kwargs(),
            "head_dim": TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads,
            "sliding_window": None,
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            **ids.text_config_kwargs(),
        },
        image_token_index=token_id(tokenizer=tokenizer, token="[IMG]"),
        spatial_merge_size=MERGE,
        vision_feature_layer=-1,
        multimodal_projector_bias=False,
        tie_word_embeddings=False,
    )
    processor = PixtralProcessor(
        image_processor=PixtralImageProcessor(
            size={"longest_edge": LONGEST_EDGE}, patch_size={"height": PATCH, "width": PATCH}
        ),
        tokenizer=tokenizer,
        patch_size=PATCH,
        spatial_merge_size=MERGE,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=Mistral3ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
