"""PaliGemma (`paligemma`, e.g. google/paligemma2-3b-pt-224, google/paligemma-3b-mix-224) checkpoints.

A SigLIP tower at a fixed square (224/448/896 on the hub), every patch one token
(`image_seq_length` = (size / patch)^2: 256 at 224 px), projected linearly into a Gemma
(PaliGemma 1) or Gemma 2 (PaliGemma 2) decoder. The processor writes `image_seq_length`
`<image>` tokens per image first, then `<bos>`, the prompt and "\\n"; the whole prompt (the
prefix) attends bidirectionally, the answer (the suffix) causally; positions are 1-based.

Tiny sizes: 32-px views of 8-px patches -> 16 tokens per image (hub: 224 px, 14 px, 256
tokens); a Gemma 2 decoder (sliding then full layers, logit soft-capping), as PaliGemma 2.
The hub checkpoints ship no chat template; the tiny one has a minimal one (images, then the
text), which is what the adapter writes when a checkpoint has none.
"""

from pathlib import Path

from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor, SiglipImageProcessor

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

IMAGE_SIZE = 32
PATCH = 8
TOKENS_PER_IMAGE = (IMAGE_SIZE // PATCH) ** 2  # 16
SLIDING_WINDOW = 64

# Gemma layout: <pad> <eos> <bos> <unk> first; <image> after the vocab (256000 on the hub),
# then the processor's <loc....>/<seg...> tokens.
SPEC = TokenizerSpec(
    leading=("<pad>", "<eos>", "<bos>", "<unk>"),
    trailing=("<image>",),
    bos_token="<bos>",
    eos_token="<eos>",
    pad_token="<pad>",
    unk_token="<unk>",
    prepend_bos=False,  # the processor writes <bos> after the image tokens
)

# Every image first (PaliGemma's layout), then the texts: a system turn's text and "\n",
# then the user's; the processor adds <bos> after the last image and "\n" at the end.
TEMPLATE = (
    "{%- for message in messages -%}{%- if message['content'] is not string -%}"
    "{%- for item in message['content'] -%}{%- if item['type'] == 'image' -%}{{ '<image>' }}{%- endif -%}{%- endfor -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'system' -%}{{ '\n' }}{%- endif -%}"
    "{%- endfor -%}"
)


def build_paligemma(out_dir: Path, *, seed: int = 0) -> Path:
    """paligemma2-pt layout: 32-px SigLIP views, 16 tokens per image, Gemma 2 decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens={"image_token": "<image>"})
    image_processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    image_processor.image_seq_length = TOKENS_PER_IMAGE
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=TEMPLATE)
    tokenizer = processor.tokenizer  # now with the <loc>/<seg> tokens
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id,), pad=tokenizer.pad_token_id)
    head_dim = TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads
    config = PaliGemmaConfig(
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
            "model_type": "gemma2",
            **TINY_TEXT.kwargs(),
            "head_dim": head_dim,
            "query_pre_attn_scalar": head_dim,
            "sliding_window": SLIDING_WINDOW,
            "layer_types": ["sliding_attention", "full_attention"],
            "final_logit_softcapping": 30.0,
            "attn_logit_softcapping": 50.0,
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            **ids.text_config_kwargs(),
        },
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        vocab_size=padded_vocab_size(tokenizer=tokenizer),
        projection_dim=TINY_TEXT.hidden_size,
        hidden_size=TINY_TEXT.hidden_size,
        tie_word_embeddings=True,
    )
    model = init_model(model_class=PaliGemmaForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
