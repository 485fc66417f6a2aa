"""LLaVA 1.5, LLaVA-NeXT and LLaVA-OneVision checkpoints.

- LLaVA 1.5: one square crop per image, CLIP features of layer -2 without CLS.
- LLaVA-NeXT: "anyres": the image is resized and padded to the best of `image_grid_pinpoints`,
  cut into tiles of the vision input size, plus a base view; unpadded features get a newline
  token per row. Pinpoints must be multiples of the crop size.
- LLaVA-OneVision: the same anyres scheme with a SigLIP tower and a Qwen2 decoder; with
  several images per prompt each image is one base view (+1 newline).
"""

from dataclasses import dataclass
from pathlib import Path

from transformers import (
    CLIPImageProcessor,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessor,
    LlavaNextProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    LlavaProcessor,
    PreTrainedTokenizerFast,
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

PATCH = 14

# Llama / Mistral layout (llava-hf): <unk> <s> </s> first, <image> and <pad> after the vocab.
LLAMA_SPEC = TokenizerSpec(
    leading=("<unk>", "<s>", "</s>"),
    trailing=("<image>", "<pad>"),
    bos_token="<s>",
    eos_token="</s>",
    pad_token="<pad>",
    unk_token="<unk>",
    prepend_bos=True,  # Llama tokenizers put <s> in front; the chat templates do not
)

# Qwen2 layout (llava-onevision-qwen2-*-hf): specials after the vocab, then <image> <video>.
QWEN2_SPEC = TokenizerSpec(
    leading=(),
    trailing=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"),
    bos_token=None,
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,
)


@dataclass(frozen=True, kw_only=True)
class AnyRes:
    """Tile geometry of LLaVA-NeXT / OneVision."""

    tile: int  # vision input side in pixels; tokens per tile = (tile // PATCH) ** 2
    grids: tuple[tuple[int, int], ...]  # allowed (rows, cols) tile grids

    @property
    def pinpoints(self) -> list[list[int]]:
        """`image_grid_pinpoints`: allowed (height, width) resolutions."""
        return [[rows * self.tile, cols * self.tile] for rows, cols in self.grids]


LLAVA_TILE = 56  # 4x4 patches -> 16 tokens (+ CLS, dropped)
LLAVA_NEXT = AnyRes(tile=42, grids=((1, 2), (2, 1), (2, 2), (1, 3), (3, 1)))  # hub: 336 px, same grids
ONEVISION = AnyRes(tile=42, grids=((1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1)))  # hub: 384 px, up to 6x6


def _clip_vision(*, image_size: int) -> dict:
    return {
        "model_type": "clip_vision_model",
        "hidden_size": VISION_HIDDEN,
        "intermediate_size": VISION_INTERMEDIATE,
        "num_hidden_layers": VISION_LAYERS,
        "num_attention_heads": VISION_HEADS,
        "image_size": image_size,
        "patch_size": PATCH,
        "projection_dim": VISION_HIDDEN,
    }


def _text(*, model_type: str, tokenizer: PreTrainedTokenizerFast, ids: TokenIds) -> dict:
    return {
        "model_type": model_type,
        **TINY_TEXT.kwargs(),
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        **ids.text_config_kwargs(),
    }


def _llama_ids(tokenizer: PreTrainedTokenizerFast) -> TokenIds:
    return TokenIds(bos=tokenizer.bos_token_id, eos=(tokenizer.eos_token_id,), pad=tokenizer.pad_token_id)


def build_llava(out_dir: Path, *, seed: int = 0) -> Path:
    """LLaVA 1.5: CLIP 56 px / patch 14 -> 16 tokens per image, Llama decoder."""
    tokenizer = train_tokenizer(spec=LLAMA_SPEC, chat_template=templates.LLAVA)
    ids = _llama_ids(tokenizer)
    num_tokens = (LLAVA_TILE // PATCH) ** 2
    config = LlavaConfig(
        vision_config=_clip_vision(image_size=LLAVA_TILE),
        text_config=_text(model_type="llama", tokenizer=tokenizer, ids=ids),
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        image_seq_length=num_tokens,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": LLAVA_TILE}, crop_size={"height": LLAVA_TILE, "width": LLAVA_TILE}
        ),
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS, removed by the "default" strategy
        chat_template=templates.LLAVA,
    )
    model = init_model(model_class=LlavaForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)


def build_llava_next(out_dir: Path, *, seed: int = 0) -> Path:
    """LLaVA-NeXT (v1.6 Mistral layout): CLIP 42 px tiles of 9 tokens, up to 3x3 + 9 base tokens."""
    tokenizer = train_tokenizer(spec=LLAMA_SPEC, chat_template=templates.LLAVA_NEXT)
    ids = _llama_ids(tokenizer)
    anyres = LLAVA_NEXT
    config = LlavaNextConfig(
        vision_config=_clip_vision(image_size=anyres.tile),
        text_config={**_text(model_type="mistral", tokenizer=tokenizer, ids=ids), "sliding_window": None},
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        image_grid_pinpoints=anyres.pinpoints,
        image_seq_length=(anyres.tile // PATCH) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessor(
            size={"shortest_edge": anyres.tile},
            crop_size={"height": anyres.tile, "width": anyres.tile},
            image_grid_pinpoints=anyres.pinpoints,
        ),
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=templates.LLAVA_NEXT,
    )
    model = init_model(model_class=LlavaNextForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)


def build_llava_onevision(out_dir: Path, *, seed: int = 0) -> Path:
    """LLaVA-OneVision: SigLIP 42 px tiles of 9 tokens, Qwen2 decoder; 10 tokens per image in multi-image."""
    tokenizer = train_tokenizer(spec=QWEN2_SPEC, chat_template=templates.LLAVA_ONEVISION)
    ids = TokenIds(bos=tokenizer.pad_token_id, eos=(tokenizer.eos_token_id, tokenizer.pad_token_id),
                   pad=tokenizer.pad_token_id)
    anyres = ONEVISION
    num_tokens = (anyres.tile // PATCH) ** 2
    config = LlavaOnevisionConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "image_size": anyres.tile,
            "patch_size": PATCH,
            "vision_use_head": False,
        },
        text_config=_text(model_type="qwen2", tokenizer=tokenizer, ids=ids),
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        video_token_index=token_id(tokenizer=tokenizer, token="<video>"),
        image_grid_pinpoints=anyres.pinpoints,
        vision_aspect_ratio="anyres_max_9",
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    size = {"height": anyres.tile, "width": anyres.tile}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=anyres.pinpoints),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        num_image_tokens=num_tokens,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        chat_template=templates.LLAVA_ONEVISION,
    )
    model = init_model(model_class=LlavaOnevisionForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
