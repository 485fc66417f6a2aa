"""Gemma 4 (`gemma4`, e.g. google/gemma-4-E2B-it; `gemma4_unified`) checkpoints.

`gemma4`: a ViT over `patch_size` patches of the image resized (aspect ratio kept) to at
most `max_soft_tokens * k^2` patches, its outputs average-pooled k x k into soft tokens,
projected into the decoder (`embed_vision`). The processor writes `<|image>` + one
`<|image|>` per soft token + `<image|>` where the chat template put `<|image|>`; a clip is
one such run of `<|video|>` per frame, each after its "mm:ss" timestamp. The decoder is a
Gemma 4 text model: sliding and full layers, per-layer token embeddings (PLE), KV sharing
in its last layers, and (with `use_bidirectional_attention="vision"`, the larger hub
models) soft tokens of one image attending to each other in the sliding layers.

`gemma4_unified`: no vision tower; the same resize, the k x k patches of each soft token
merged into one raw patch, embedded by a dense projection; no PLE.

Tiny sizes: 4-px patches pooled 3 x 3 (hub: 16 px, 3 x 3), at most 70 soft tokens per
image (hub: 280) and 70 per video frame (hub: 70); a 4-layer decoder (sliding, full,
sliding, full; the last two reuse the first two's KV) with PLE of 8 per layer and
bidirectional vision blocks, so every Gemma 4 decoder path runs in the tests.
"""

from pathlib import Path

from transformers import (
    Gemma4AudioFeatureExtractor,
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4ImageProcessor,
    Gemma4Processor,
    Gemma4UnifiedAudioFeatureExtractor,
    Gemma4UnifiedConfig,
    Gemma4UnifiedForConditionalGeneration,
    Gemma4UnifiedImageProcessor,
    Gemma4UnifiedProcessor,
    Gemma4UnifiedVideoProcessor,
    Gemma4VideoProcessor,
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

PATCH = 4
POOLING = 3
IMAGE_SOFT_TOKENS = 70  # the smallest of the processor budgets (70, 140, 280, 560, 1120)
VIDEO_SOFT_TOKENS = 70
SLIDING_WINDOW = 128
HEAD_DIM = TINY_TEXT.hidden_size // TINY_TEXT.num_attention_heads
POSITIONS = 4096  # > the longest side in patches at the largest budget (1120 * 3)

# Gemma 4 layout: <pad> <eos> <bos> <unk> first, the turn, thinking and media markers among
# the reserved ids, the placeholders after them (258880 <|image|>, 258881 <|audio|>, 258884 <|video|>).
SPEC = TokenizerSpec(
    leading=(
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<|turn>",
        "<turn|>",
        "<|think|>",
        "<|channel>",
        "<channel|>",
        "<|image>",
        "<image|>",
        "<|audio>",
        "<audio|>",
    ),
    trailing=("<|image|>", "<|audio|>", "<|video|>"),
    bos_token="<bos>",
    eos_token="<eos>",
    pad_token="<pad>",
    unk_token="<unk>",
    prepend_bos=False,  # the chat template writes <bos> itself
)

NAMED_TOKENS = {  # the Gemma 4 processors read these tokenizer attributes
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "image_token": "<|image|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
    "audio_token": "<|audio|>",
}

# google/gemma-4-E2B-it's template, written from memory and trimmed to system, user and
# model turns with text, image, video and audio parts (no tools): a system turn (or
# `enable_thinking`, which puts <|think|> at its top) opens the prompt, the assistant role
# is "model", media parts are their placeholders, the generation prompt is "<|turn>model\n".
TEMPLATE = (
    "{{ bos_token }}"
    "{%- set thinking = enable_thinking is defined and enable_thinking -%}"
    "{%- if thinking or messages[0]['role'] == 'system' -%}"
    "{{ '<|turn>system\n' }}{%- if thinking -%}{{ '<|think|>' }}{%- endif -%}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{{ messages[0]['content'] | trim }}"
    "{%- else -%}{%- for item in messages[0]['content'] -%}"
    "{%- if item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{{ '<turn|>\n' }}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<|turn>' + role + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<|image|>' }}"
    "{%- elif item['type'] == 'video' -%}{{ '<|video|>' }}"
    "{%- elif item['type'] == 'audio' -%}{{ '<|audio|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<turn|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|turn>model\n' }}{%- endif -%}"
)


def _tokenizer_and_ids():
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    tokenizer._set_model_specific_special_tokens(special_tokens=dict(NAMED_TOKENS))
    end_of_turn = token_id(tokenizer=tokenizer, token="<turn|>")
    ids = TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id, end_of_turn), pad=tokenizer.pad_token_id)
    return tokenizer, ids


def _media_token_ids(tokenizer) -> dict[str, int]:
    def tid(token: str) -> int:
        return token_id(tokenizer=tokenizer, token=token)

    return {
        "boi_token_id": tid("<|image>"),
        "eoi_token_id": tid("<image|>"),
        "image_token_id": tid("<|image|>"),
        "video_token_id": tid("<|video|>"),
        "boa_token_id": tid("<|audio>"),
        "eoa_token_index": tid("<audio|>"),
        "audio_token_id": tid("<|audio|>"),
    }


def _text_config(tokenizer, ids: TokenIds, *, model_type: str, per_layer: bool) -> dict:
    vocab = padded_vocab_size(tokenizer=tokenizer)
    config = {
        "model_type": model_type,
        **TINY_TEXT.kwargs(),
        "num_hidden_layers": 4,
        "head_dim": HEAD_DIM,
        "global_head_dim": HEAD_DIM,
        "sliding_window": SLIDING_WINDOW,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        "num_kv_shared_layers": 2,
        "use_bidirectional_attention": "vision",
        "final_logit_softcapping": 30.0,
        "vocab_size": vocab,
        **ids.text_config_kwargs(),
    }
    if per_layer:
        config |= {"hidden_size_per_layer_input": 8, "vocab_size_per_layer_input": vocab}
    return config


def _media_kwargs() -> dict[str, dict[str, int]]:
    image = {"patch_size": PATCH, "pooling_kernel_size": POOLING, "max_soft_tokens": IMAGE_SOFT_TOKENS}
    video = {"patch_size": PATCH, "pooling_kernel_size": POOLING, "max_soft_tokens": VIDEO_SOFT_TOKENS}
    return {"image": image, "video": video}


def build_gemma4(out_dir: Path, *, seed: int = 0) -> Path:
    """gemma-4-it layout: a pooled ViT (4-px patches, 3x3 pooling), Gemma 4 decoder with PLE."""
    tokenizer, ids = _tokenizer_and_ids()
    config = Gemma4Config(
        vision_config={
            "model_type": "gemma4_vision",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "num_key_value_heads": VISION_HEADS,
            "head_dim": VISION_HIDDEN // VISION_HEADS,
            "patch_size": PATCH,
            "pooling_kernel_size": POOLING,
            "position_embedding_size": POSITIONS,
        },
        text_config=_text_config(tokenizer, ids, model_type="gemma4_text", per_layer=True),
        audio_config=None,
        **_media_token_ids(tokenizer),
        tie_word_embeddings=True,
    )
    media = _media_kwargs()
    processor = Gemma4Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=Gemma4ImageProcessor(**media["image"]),
        tokenizer=tokenizer,
        video_processor=Gemma4VideoProcessor(**media["video"]),
        chat_template=TEMPLATE,
        image_seq_length=IMAGE_SOFT_TOKENS,
    )
    model = init_model(model_class=Gemma4ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)


def build_gemma4_unified(out_dir: Path, *, seed: int = 0) -> Path:
    """Encoder-free Gemma 4: merged raw patches through a dense embedder, Gemma 4 decoder."""
    tokenizer, ids = _tokenizer_and_ids()
    config = Gemma4UnifiedConfig(
        vision_config={
            "model_type": "gemma4_unified_vision",
            "patch_size": PATCH,
            "pooling_kernel_size": POOLING,
            "mm_embed_dim": VISION_HIDDEN,
            "mm_posemb_size": POSITIONS // POOLING,
            "output_proj_dims": VISION_HIDDEN,
        },
        text_config=_text_config(tokenizer, ids, model_type="gemma4_unified_text", per_layer=False),
        audio_config=None,
        **_media_token_ids(tokenizer),
        tie_word_embeddings=True,
    )
    media = _media_kwargs()
    processor = Gemma4UnifiedProcessor(
        feature_extractor=Gemma4UnifiedAudioFeatureExtractor(),
        image_processor=Gemma4UnifiedImageProcessor(**media["image"]),
        tokenizer=tokenizer,
        video_processor=Gemma4UnifiedVideoProcessor(**media["video"]),
        chat_template=TEMPLATE,
        image_seq_length=IMAGE_SOFT_TOKENS,
    )
    model = init_model(model_class=Gemma4UnifiedForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
