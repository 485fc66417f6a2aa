"""GLM-4.1V / GLM-4.5V checkpoints (`glm4v`, Glm4vForConditionalGeneration).

Qwen2-VL-like vision (14-px patches, 2x2 merge through a strided conv, a learned position
grid interpolated to the image) in front of a GLM-4 decoder with 3-D MRoPE on half of each
head (`partial_rotary_factor` 0.5). An image is `<|begin_of_image|>` + one `<|image|>` per
merged patch + `<|end_of_image|>`; video frames reuse `<|image|>` inside
`<|begin_of_video|>...<|end_of_video|>`. The processor's `size` bounds 2 * h * w (an image is
two frames), so the tiny bounds below are twice the pixels of 4 to 32 tokens.
"""

from pathlib import Path

from transformers import (
    Glm4vConfig,
    Glm4vForConditionalGeneration,
    Glm4vImageProcessor,
    Glm4vProcessor,
    Glm4vVideoProcessor,
    PreTrainedConfig,
    PreTrainedTokenizerFast,
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

PATCH = 14
MERGE = 2
TEMPORAL = 2
FACTOR = PATCH * MERGE
MIN_TOKENS = 4
MAX_TOKENS = 32

SPEC = TokenizerSpec(
    leading=(),
    trailing=(  # GLM-4 layout: specials after the BPE vocab, in the hub order (151329 ...)
        "<|endoftext|>",
        "[MASK]",
        "[gMASK]",
        "[sMASK]",
        "<sop>",
        "<eop>",
        "<|system|>",
        "<|user|>",
        "<|assistant|>",
        "<|observation|>",
        "<|begin_of_image|>",
        "<|end_of_image|>",
        "<|begin_of_video|>",
        "<|end_of_video|>",
        "<|image|>",
        "<|video|>",
        "<think>",
        "</think>",
    ),
    bos_token=None,
    eos_token="<|endoftext|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,
)

# GLM-4.1V-Thinking's template, trimmed to system/user/assistant turns with text, image and
# video parts (system text parts are joined, as vlmcli sends a list).
TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for msg in messages %}"
    "{%- if msg.role == 'system' %}<|system|>\n"
    "{%- if msg.content is string %}{{ msg.content }}"
    "{%- else %}{%- for item in msg.content %}{%- if item.type == 'text' %}{{ item.text }}{%- endif %}{%- endfor %}"
    "{%- endif %}"
    "{%- elif msg.role == 'user' %}<|user|>{{ '\\n' }}"
    "{%- if msg.content is string %}{{ msg.content }}"
    "{%- else %}{%- for item in msg.content %}"
    "{%- if item.type == 'video' or 'video' in item %}<|begin_of_video|><|video|><|end_of_video|>"
    "{%- elif item.type == 'image' or 'image' in item %}<|begin_of_image|><|image|><|end_of_image|>"
    "{%- elif item.type == 'text' %}{{ item.text }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{%- elif msg.role == 'assistant' %}<|assistant|>\n"
    "{%- if msg.content is string %}{{ msg.content }}"
    "{%- else %}{%- for item in msg.content %}{%- if item.type == 'text' %}{{ item.text }}{%- endif %}{%- endfor %}"
    "{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _token_ids(tokenizer: PreTrainedTokenizerFast) -> TokenIds:
    # hub generation_config: eos = <|endoftext|>, <|user|>, <|observation|>
    eos = tuple(token_id(tokenizer=tokenizer, token=t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>"))
    return TokenIds(bos=None, eos=eos, pad=tokenizer.pad_token_id)


def _config(tokenizer: PreTrainedTokenizerFast) -> PreTrainedConfig:
    ids = _token_ids(tokenizer)
    text_config = {
        **TINY_TEXT.kwargs(),
        "vocab_size": padded_vocab_size(tokenizer=tokenizer),
        "rms_norm_eps": 1e-5,
        # head_dim 16, half rotary -> 4 frequencies split (t, h, w) = [2, 1, 1] (hub: [8, 12, 12] of 32)
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.5,
            "mrope_section": [2, 1, 1],
        },
        **ids.text_config_kwargs(),
    }
    vision_config = {
        "depth": VISION_LAYERS,
        "hidden_size": VISION_HIDDEN,
        "intermediate_size": VISION_INTERMEDIATE,
        "num_heads": VISION_HEADS,
        "image_size": 4 * PATCH,  # a 4x4 learned position grid, interpolated to each image
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": TEMPORAL,
        "out_hidden_size": TINY_TEXT.hidden_size,
    }
    return Glm4vConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video|>"),
        image_start_token_id=token_id(tokenizer=tokenizer, token="<|begin_of_image|>"),
        image_end_token_id=token_id(tokenizer=tokenizer, token="<|end_of_image|>"),
        video_start_token_id=token_id(tokenizer=tokenizer, token="<|begin_of_video|>"),
        video_end_token_id=token_id(tokenizer=tokenizer, token="<|end_of_video|>"),
        tie_word_embeddings=False,
    )


def build_glm4v(out_dir: Path, *, seed: int = 0) -> Path:
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    per_token = FACTOR * FACTOR * TEMPORAL  # size bounds count both frames of an image
    image_processor = Glm4vImageProcessor(
        size={
            "shortest_edge": MIN_TOKENS * per_token,
            "longest_edge": MAX_TOKENS * per_token,
        },
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
    )
    video_processor = Glm4vVideoProcessor(
        size={
            "shortest_edge": MIN_TOKENS * per_token,
            "longest_edge": 8 * 16 * per_token,
        },
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
    )
    processor = Glm4vProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=Glm4vForConditionalGeneration, config=_config(tokenizer), seed=seed)
    return save_checkpoint(
        model=model,
        processor=processor,
        token_ids=_token_ids(tokenizer),
        out_dir=out_dir,
    )
