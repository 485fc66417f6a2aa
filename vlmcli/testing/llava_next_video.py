"""LLaVA-NeXT-Video checkpoints (llava-hf/LLaVA-NeXT-Video-7B-hf layout, tiny).

LLaVA-NeXT's anyres images (CLIP tower, grid pinpoints, newline tokens) plus a video path:
frames centre-cropped to the tower's size, CLS dropped, 2x2 average pooling, `<video>`
tokens (no newline). The tile is 56 px (4 x 4 patches of 14): the processor's
(h/p)*(w/p)//4 video tokens a frame equal the model's pooled 2 x 2 grid only for an even
patch grid, so LLaVA-NeXT's 42-px tiny tile would not do. Vicuna chat template (images,
then videos, then the text), Llama tokenizer layout with `<video>` before `<image>` as on
the hub (32000, 32001).
"""

from pathlib import Path

from transformers import (
    LlavaNextImageProcessor,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    LlavaNextVideoProcessor,
    LlavaNextVideoVideoProcessor,
)

from vlmcli.testing import templates
from vlmcli.testing.checkpoint import init_model, save_checkpoint
from vlmcli.testing.llava import (
    LLAMA_SPEC,
    PATCH,
    AnyRes,
    _clip_vision,
    _llama_ids,
    _text,
)
from vlmcli.testing.tokenizer import TokenizerSpec, token_id, train_tokenizer

LLAVA_NEXT_VIDEO = AnyRes(tile=56, grids=((1, 2), (2, 1), (2, 2), (1, 3), (3, 1)))  # hub: 336 px, same grids

# hub tokenizer: <unk> <s> </s>, the vocab, then <video> (32000) and <image> (32001)
LLAMA_VIDEO_SPEC = TokenizerSpec(
    leading=LLAMA_SPEC.leading,
    trailing=("<video>", "<image>", "<pad>"),
    bos_token=LLAMA_SPEC.bos_token,
    eos_token=LLAMA_SPEC.eos_token,
    pad_token=LLAMA_SPEC.pad_token,
    unk_token=LLAMA_SPEC.unk_token,
    prepend_bos=LLAMA_SPEC.prepend_bos,
)

# the hub template: like LLaVA 1.5's, with a `<video>\n` per video after the images
LLAVA_NEXT_VIDEO_TEMPLATE = templates.LLAVA.replace(
    "{% if message['role'] != 'assistant' %}",
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}",
    1,
)


def build_llava_next_video(out_dir: Path, *, seed: int = 0) -> Path:
    """LLaVA-NeXT-Video: CLIP 56 px tiles of 16 tokens (up to 3 tiles + base), 4 tokens a video frame."""
    template = LLAVA_NEXT_VIDEO_TEMPLATE
    tokenizer = train_tokenizer(spec=LLAMA_VIDEO_SPEC, chat_template=template)
    ids = _llama_ids(tokenizer)
    anyres = LLAVA_NEXT_VIDEO
    tokens_per_tile = (anyres.tile // PATCH) ** 2
    config = LlavaNextVideoConfig(
        vision_config=_clip_vision(image_size=anyres.tile),
        text_config=_text(model_type="llama", tokenizer=tokenizer, ids=ids),
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        video_token_index=token_id(tokenizer=tokenizer, token="<video>"),
        image_grid_pinpoints=anyres.pinpoints,
        image_seq_length=tokens_per_tile,
        video_seq_length=tokens_per_tile // 4,
        spatial_pool_mode="average",
        spatial_pool_stride=2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    crop = {"height": anyres.tile, "width": anyres.tile}
    processor = LlavaNextVideoProcessor(
        video_processor=LlavaNextVideoVideoProcessor(size={"shortest_edge": anyres.tile}, crop_size=crop),
        image_processor=LlavaNextImageProcessor(
            size={"shortest_edge": anyres.tile}, crop_size=crop, image_grid_pinpoints=anyres.pinpoints
        ),
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )
    model = init_model(model_class=LlavaNextVideoForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
