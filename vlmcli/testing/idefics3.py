"""Idefics3 (SmolVLM v1) and SmolVLM (SmolVLM2) checkpoints: tiny ones and a real-size random one.

Both families split an image into square tiles of `max_image_size` plus a global view; each
tile becomes (image_size / patch_size / scale_factor)^2 `<image>` tokens after pixel shuffle.
The tiny sizes keep splitting on (photos become up to 2x2 tiles + global) with few tokens.
"""

from dataclasses import dataclass
from pathlib import Path

from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessor,
    Idefics3Processor,
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
    SmolVLMVideoProcessor,
)

from vlmcli.testing import templates
from vlmcli.testing.checkpoint import (
    TINY_TEXT,
    VISION_HEADS,
    VISION_HIDDEN,
    VISION_INTERMEDIATE,
    VISION_LAYERS,
    TextSize,
    TokenIds,
    init_model,
    save_checkpoint,
)
from vlmcli.testing.tokenizer import TokenizerSpec, padded_vocab_size, token_id, train_tokenizer

ROW_COL_TOKENS = tuple(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7))  # the processor's 6x6 grid


def _spec(*, with_video: bool) -> TokenizerSpec:
    """SmolLM2 layout: <|endoftext|> <|im_start|> <|im_end|> first, image tokens after the vocab."""
    video = ("<video>",) if with_video else ()
    return TokenizerSpec(
        leading=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        trailing=(
            "<fake_token_around_image>",
            "<image>",
            "<global-img>",
            *ROW_COL_TOKENS,
            *video,
            "<end_of_utterance>",
        ),
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        prepend_bos=False,  # the chat template starts with <|im_start|> itself
    )


@dataclass(frozen=True, kw_only=True)
class TileSize:
    """Vision geometry; tokens per tile = (image_size // patch_size // scale_factor) ** 2."""

    image_size: int  # side of one square tile, in pixels
    patch_size: int
    scale_factor: int  # pixel-shuffle factor; must divide image_size // patch_size
    max_tiles_per_side: int  # processor `size.longest_edge` = this * image_size

    @property
    def tokens_per_tile(self) -> int:
        grid = self.image_size // self.patch_size
        if grid % self.scale_factor:
            raise ValueError(f"scale_factor {self.scale_factor} does not divide the {grid}x{grid} patch grid")
        return (grid // self.scale_factor) ** 2


IDEFICS3_TILE = TileSize(image_size=64, patch_size=8, scale_factor=2, max_tiles_per_side=2)  # 16 tokens per tile
SMOLVLM_TILE = TileSize(image_size=128, patch_size=8, scale_factor=4, max_tiles_per_side=2)  # 16 tokens per tile
SMOLVLM_256M_TILE = TileSize(image_size=512, patch_size=16, scale_factor=4, max_tiles_per_side=4)  # 64 per tile


@dataclass(frozen=True, kw_only=True)
class VisionSize:
    """SigLIP-style encoder size."""

    hidden_size: int = VISION_HIDDEN
    intermediate_size: int = VISION_INTERMEDIATE
    num_hidden_layers: int = VISION_LAYERS
    num_attention_heads: int = VISION_HEADS


def _token_ids(tokenizer: PreTrainedTokenizerFast) -> TokenIds:
    return TokenIds(
        bos=tokenizer.bos_token_id,
        eos=(tokenizer.eos_token_id, tokenizer.pad_token_id),  # <end_of_utterance>, <|im_end|>
        pad=tokenizer.pad_token_id,
    )


@dataclass(frozen=True, kw_only=True)
class ModelSize:
    """Everything that differs between a tiny checkpoint and the real-size one."""

    tile: TileSize
    vision: VisionSize = VisionSize()
    text: TextSize = TINY_TEXT
    vocab_size: int | None = None  # None: the trained tokenizer rounded up; else the tokenizer is padded to it
    max_frames: int = 8  # video frames sampled at most (SmolVLM2 video processor)


def _config_kwargs(*, tokenizer: PreTrainedTokenizerFast, size: ModelSize) -> dict:
    ids = _token_ids(tokenizer)
    return {
        "vision_config": {
            "hidden_size": size.vision.hidden_size,
            "intermediate_size": size.vision.intermediate_size,
            "num_hidden_layers": size.vision.num_hidden_layers,
            "num_attention_heads": size.vision.num_attention_heads,
            "image_size": size.tile.image_size,
            "patch_size": size.tile.patch_size,
        },
        "text_config": {
            "model_type": "llama",
            **size.text.kwargs(),
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            "rms_norm_eps": 1e-5,
            "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
            **ids.text_config_kwargs(),
        },
        "scale_factor": size.tile.scale_factor,
        "image_token_id": token_id(tokenizer=tokenizer, token="<image>"),
        "pad_token_id": ids.pad,
        "tie_word_embeddings": False,
    }


def _image_processor_kwargs(tile: TileSize) -> dict:
    return {
        "size": {"longest_edge": tile.max_tiles_per_side * tile.image_size},
        "max_image_size": {"longest_edge": tile.image_size},
        "do_image_splitting": True,
    }


IDEFICS3_SIZE = ModelSize(tile=IDEFICS3_TILE)
SMOLVLM_SIZE = ModelSize(tile=SMOLVLM_TILE)
# HuggingFaceTB/SmolVLM2-256M-Video-Instruct: SigLIP-B/16 at 512 px + SmolLM2-135M, untied lm_head.
SMOLVLM_256M_SIZE = ModelSize(
    tile=SMOLVLM_256M_TILE,
    vision=VisionSize(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    text=TextSize(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
    ),
    vocab_size=49280,
    max_frames=64,
)


def build_idefics3(out_dir: Path, *, seed: int = 0) -> Path:
    """SmolVLM v1 layout (Idefics3): 64 px tiles, 16 tokens per tile, up to 2x2 tiles + global."""
    size = IDEFICS3_SIZE
    tokenizer = train_tokenizer(spec=_spec(with_video=False), chat_template=templates.SMOLVLM)
    config = Idefics3Config(**_config_kwargs(tokenizer=tokenizer, size=size))
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(**_image_processor_kwargs(size.tile)),
        tokenizer=tokenizer,
        image_seq_len=size.tile.tokens_per_tile,
        chat_template=templates.SMOLVLM,
    )
    model = init_model(model_class=Idefics3ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=_token_ids(tokenizer), out_dir=out_dir)


def _smolvlm_tokenizer(size: ModelSize) -> PreTrainedTokenizerFast:
    return train_tokenizer(spec=_spec(with_video=True), total_size=size.vocab_size, chat_template=templates.SMOLVLM)


def _smolvlm_processor(*, tokenizer: PreTrainedTokenizerFast, size: ModelSize) -> SmolVLMProcessor:
    tile_edge = {"longest_edge": size.tile.image_size}
    return SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(**_image_processor_kwargs(size.tile)),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(
            size=tile_edge,
            max_image_size=tile_edge,
            video_sampling={"fps": 1, "max_frames": size.max_frames, "video_size": tile_edge},
        ),
        image_seq_len=size.tile.tokens_per_tile,
        chat_template=templates.SMOLVLM,
    )


def _build_smolvlm(size: ModelSize, out_dir: Path, *, seed: int) -> Path:
    tokenizer = _smolvlm_tokenizer(size)
    config = SmolVLMConfig(**_config_kwargs(tokenizer=tokenizer, size=size))
    processor = _smolvlm_processor(tokenizer=tokenizer, size=size)
    model = init_model(model_class=SmolVLMForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=_token_ids(tokenizer), out_dir=out_dir)


def build_smolvlm(out_dir: Path, *, seed: int = 0) -> Path:
    """SmolVLM2 layout: 128 px tiles, 16 tokens per tile (scale_factor 4), up to 2x2 tiles + global."""
    return _build_smolvlm(SMOLVLM_SIZE, out_dir, seed=seed)


def smolvlm_256m_config() -> SmolVLMConfig:
    """The real-size SmolVLM2-256M config alone (no weights), e.g. to count parameters."""
    return SmolVLMConfig(**_config_kwargs(tokenizer=_smolvlm_tokenizer(SMOLVLM_256M_SIZE), size=SMOLVLM_256M_SIZE))


def build_smolvlm_256m_random(out_dir: Path, *, seed: int = 0) -> Path:
    """Random weights at the real SmolVLM2-256M size (256.5M parameters), for benchmarks (~1 GB float32).

    The processor matches the real one (512 px tiles, longest edge 2048, 64 tokens per tile);
    the tokenizer is the small trained one, padded with filler entries to the real 49280 ids.
    """
    return _build_smolvlm(SMOLVLM_256M_SIZE, out_dir, seed=seed)


# SmolVLM2-256M's language model (SmolLM2-135M, real size) behind the tiny 128 px vision tower.
SMOLVLM_LM135M_SIZE = ModelSize(tile=SMOLVLM_TILE, text=SMOLVLM_256M_SIZE.text, vocab_size=SMOLVLM_256M_SIZE.vocab_size)


def build_smolvlm_lm135m_random(out_dir: Path, *, seed: int = 0) -> Path:
    """Random weights, SmolVLM2-256M's real-size language model with the tiny vision tower
    (~135M parameters, ~0.6 GB float32): a decode-bound checkpoint for batching benchmarks
    (bench/bench_continuous.py), where the real one's 512 px SigLIP would dominate on a CPU."""
    return _build_smolvlm(SMOLVLM_LM135M_SIZE, out_dir, seed=seed)
