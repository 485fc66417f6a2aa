"""FastVLM (`fast_vlm`, e.g. KamilaMila/FastVLM-0.5B, the transformers port of apple/FastVLM-0.5B).

LLaVA-style: a FastViTHD tower (timm's `fastvit_mci3` behind transformers' `TimmWrapperModel`,
a hybrid conv + attention network that downsamples by 64), its last feature map flattened
into (H/64) x (W/64) tokens, a two-layer GELU projector and a Qwen2 decoder. The processor
is a plain `LlavaProcessor` with a `CLIPImageProcessor` (shortest edge 1024, centre crop
1024x1024, mean 0 / std 1) and `patch_size` 64: 256 `<image>` tokens per image on the hub.

Tiny sizes: a five-stage `fastvit_mci3` of one block per stage (widths 8-32, 64 features),
256-px views -> 4 x 4 = 16 tokens per image, the shared tiny Qwen2 decoder. The tower is
built with `pretrained=False` (transformers' wrapper always asks timm for that), so nothing
is downloaded. Needs `timm` (the `fastvlm` extra).
"""

from pathlib import Path

from transformers import CLIPImageProcessor, FastVlmConfig, FastVlmForConditionalGeneration, LlavaProcessor

from vlmcli.testing.checkpoint import TINY_TEXT, TokenIds, init_model, save_checkpoint
from vlmcli.testing.tokenizer import TokenizerSpec, padded_vocab_size, token_id, train_tokenizer

IMAGE_SIZE = 256  # hub: 1024
PATCH = 64  # FastViTHD's total stride (hub and tiny alike)
TOKENS_PER_IMAGE = (IMAGE_SIZE // PATCH) ** 2  # 16 (hub: 256)
VISION_FEATURES = 64  # final conv width = 2 x the last stage's (hub: 3072)

# Qwen2 layout (the converted checkpoints use Qwen/Qwen2-*'s tokenizer): the specials after
# the vocab, then the added <image> (151646 on the hub). The base Qwen2 tokenizer ends text
# with <|endoftext|>; chat turns end with <|im_end|>, so both stop generation.
SPEC = TokenizerSpec(
    leading=(),
    trailing=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"),
    bos_token=None,
    eos_token="<|endoftext|>",
    pad_token="<|endoftext|>",
    unk_token=None,
    prepend_bos=False,
)

# The chat template of KamilaMila/FastVLM-0.5B / -1.5B / -7B, as transformers'
# convert_fastvlm_weights_to_hf.py writes it (and the FastVLM model doc renders it): a default
# system turn, every image of a turn first, then each text part after a "\n".
TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\n' + content['text'] }}"
    "{% endfor %}"
    "{{'<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# fastvit_mci3 (FastViTHD) at one block per stage: 3 RepMixer stages, 2 attention stages
# (head_dim 32: one head at width 32); `inference_mode` = the re-parameterised convs the
# hub checkpoints ship.
TOWER_ARGS = {"inference_mode": True, "layers": [1, 1, 1, 1, 1], "embed_dims": [8, 16, 16, 32, 32]}


def build_fast_vlm(out_dir: Path, *, seed: int = 0) -> Path:
    """FastVLM: 256-px FastViTHD views, 16 tokens per image, Qwen2 decoder."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    ids = TokenIds(
        bos=None,
        eos=(tokenizer.eos_token_id, token_id(tokenizer=tokenizer, token="<|im_end|>")),
        pad=tokenizer.pad_token_id,
    )
    config = FastVlmConfig(
        vision_config={
            "model_type": "timm_wrapper",
            "architecture": "fastvit_mci3",
            "do_pooling": True,
            "global_pool": "avg",
            "hidden_size": VISION_FEATURES,
            "initializer_range": 0.02,
            "model_args": TOWER_ARGS,
            "label2id": {},
            "id2label": {},
        },
        text_config={
            "model_type": "qwen2",
            **TINY_TEXT.kwargs(),
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            **ids.text_config_kwargs(),
        },
        image_token_index=token_id(tokenizer=tokenizer, token="<image>"),
        image_seq_length=TOKENS_PER_IMAGE,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": IMAGE_SIZE},
            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
            image_mean=[0.0, 0.0, 0.0],
            image_std=[1.0, 1.0, 1.0],
        ),
        tokenizer=tokenizer,
        patch_size=PATCH,
        chat_template=TEMPLATE,
    )
    model = init_model(model_class=FastVlmForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
