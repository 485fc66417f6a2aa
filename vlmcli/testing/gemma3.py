"""Gemma 3 (`gemma3`, e.g. google/gemma-3-4b-it) checkpoints.

A SigLIP tower at a fixed square, its patch features average-pooled to
`mm_tokens_per_image` soft tokens per view, written by the processor as
`\\n\\n<start_of_image>` + soft tokens + `<end_of_image>\\n\\n` where the chat template put
`<start_of_image>`; a Gemma 3 decoder (sliding and full attention layers) in which the
soft tokens of one image attend to each other bidirectionally (`token_type_ids`).

Tiny sizes: 64-px views of 8-px patches -> 8x8 patches pooled to 4x4 = 16 tokens per view
(hub: 896 px, 14 px, 256 tokens); layers sliding (window 64) then full. Pan-and-scan is
off, as in transformers (`Gemma3Processor.images_kwargs`, which override the image
processor's own attributes).
"""

from pathlib import Path

from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3ImageProcessor,
    Gemma3Processor,
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

IMAGE_SIZE = 64
PATCH = 8
TOKENS_PER_VIEW = 16
SLIDING_WINDOW = 64

# Gemma layout: <pad> <eos> <bos> <unk> first, the turn and image markers among the
# reserved ids, the soft token after the vocab (262144 on the hub).
SPEC = TokenizerSpec(
    leading=(
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
    ),
    trailing=("<image_soft_token>",),
    bos_token="<bos>",
    eos_token="<eos>",
    pad_token="<pad>",
    unk_token="<unk>",
    prepend_bos=False,  # the chat template writes <bos> itself
)

NAMED_TOKENS = {  # the Gemma 3 processor reads these tokenizer attributes
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}

# gemma-3-4b-it's template: a system turn is folded into the first user turn, the
# assistant role is "model", an image is "<start_of_image>" where it appears.
TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def build_gemma3(out_dir: Path, *, seed: int = 0) -> Path:
    """gemma-3-it layout: 64-px SigLIP views pooled to 16 soft tokens, Gemma 3 decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens=dict(NAMED_TOKENS))
    eot = token_id(tokenizer=tokenizer, token="<end_of_turn>")
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id, eot), pad=tokenizer.pad_token_id)
    config = Gemma3Config(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH,
            "vision_use_head": False,
        },
        text_config={
            "model_type": "gemma3_text",
            **TINY_TEXT.kwargs(),
            "head_dim": TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads,
            "query_pre_attn_scalar": TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads,
            "sliding_window": SLIDING_WINDOW,
            "layer_types": ["sliding_attention", "full_attention"],
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            **ids.text_config_kwargs(),
        },
        mm_tokens_per_image=TOKENS_PER_VIEW,
        boi_token_index=token_id(tokenizer=tokenizer, token="<start_of_image>"),
        eoi_token_index=token_id(tokenizer=tokenizer, token="<end_of_image>"),
        image_token_index=token_id(tokenizer=tokenizer, token="<image_soft_token>"),
        tie_word_embeddings=True,
    )
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
        image_seq_length=TOKENS_PER_VIEW,
    )
    model = init_model(model_class=Gemma3ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
