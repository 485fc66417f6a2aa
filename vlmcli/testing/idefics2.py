"""Idefics2 tiny checkpoint (HuggingFaceM4/idefics2-8b layout, tiny sizes).

SigLIP-style tower with variable-size views (64 px at most here, 8 px patches), a
perceiver resampler giving 8 latents per view, a Mistral decoder; image splitting on
(4 quarters + the whole image per photo), so the five-view path and the padded pixel
masks are what the tests exercise. The tokenizer is Llama/Mistral style (<unk> <s> </s>
first, BOS prepended) with `<fake_token_around_image>`, `<image>` and
`<end_of_utterance>` after the vocab, and the hub chat template
("User:<image>What is this?<end_of_utterance>\\nAssistant:").
"""

from pathlib import Path

from transformers import (
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2ImageProcessor,
    Idefics2Processor,
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
from vlmcli.testing.tokenizer import TokenizerSpec, padded_vocab_size, token_id, train_tokenizer

# HuggingFaceM4/idefics2-8b's chat template (the same text as SmolVLM's, without <|im_start|>).
IDEFICS2_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

TILE = 64  # longest_edge: a view's long side at most (idefics2-8b: 980 = the tower's image_size)
SHORTEST = 24  # shortest_edge (idefics2-8b: 378)
PATCH = 8
LATENTS = 8  # perceiver latents = image_seq_len (idefics2-8b: 64)

SPEC = TokenizerSpec(
    leading=("<unk>", "<s>", "</s>"),
    trailing=("<fake_token_around_image>", "<image>", "<end_of_utterance>"),
    bos_token="<s>",
    eos_token="</s>",
    pad_token="<unk>",
    unk_token="<unk>",
    prepend_bos=True,
)


def _token_ids(tokenizer: PreTrainedTokenizerFast) -> TokenIds:
    return TokenIds(
        bos=tokenizer.bos_token_id,
        eos=(tokenizer.eos_token_id, token_id(tokenizer=tokenizer, token="<end_of_utterance>")),
        pad=tokenizer.pad_token_id,
    )


def build_idefics2(out_dir: Path, *, seed: int = 0) -> Path:
    """Idefics2 layout: views up to 64 px (shortest side 24), 8 tokens each, splitting on."""
    tokenizer = train_tokenizer(spec=SPEC, chat_template=IDEFICS2_TEMPLATE)
    ids = _token_ids(tokenizer)
    text = TINY_TEXT
    config = Idefics2Config(
        vision_config={
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": VISION_INTERMEDIATE,
            "num_hidden_layers": VISION_LAYERS,
            "num_attention_heads": VISION_HEADS,
            "image_size": TILE,
            "patch_size": PATCH,
        },
        perceiver_config={
            "hidden_size": text.hidden_size,
            "rms_norm_eps": 1e-5,
            "resampler_n_latents": LATENTS,
            "resampler_depth": 2,
            "resampler_n_heads": 2,
            "resampler_head_dim": 16,
            "num_key_value_heads": 1,
        },
        text_config={
            "model_type": "mistral",
            **text.kwargs(),
            "vocab_size": padded_vocab_size(tokenizer=tokenizer),
            "rms_norm_eps": 1e-5,
            "sliding_window": None,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            **ids.text_config_kwargs(),
        },
        image_token_id=token_id(tokenizer=tokenizer, token="<image>"),
        pad_token_id=ids.pad,
        tie_word_embeddings=False,
    )
    processor = Idefics2Processor(
        image_processor=Idefics2ImageProcessor(
            size={"shortest_edge": SHORTEST, "longest_edge": TILE}, do_image_splitting=True
        ),
        tokenizer=tokenizer,
        image_seq_len=LATENTS,
        chat_template=IDEFICS2_TEMPLATE,
    )
    model = init_model(model_class=Idefics2ForConditionalGeneration, config=config, seed=seed)
    return save_checkpoint(model=model, processor=processor, token_ids=ids, out_dir=out_dir)
