"""The tiny checkpoints load like hub models and generate, alone and batched."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin
from transformers.video_utils import VideoMetadata

from vlmcli.testing import (
    MODEL_TYPES,
    build_tiny_checkpoint,
    qwen2_vl_2b_config,
    sample_photos,
    smolvlm_256m_config,
)

QUESTION = "What is this?"
ONE_IMAGE = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
TWO_IMAGES = [
    {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Compare them."}]}
]
NEW_TOKENS = 5

_QWEN2_PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n<|im_start|>assistant\n"
)
_QWEN3_PROMPT = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n<|im_start|>assistant\n"
_SMOLVLM_PROMPT = "<|im_start|>User:<image>What is this?<end_of_utterance>\nAssistant:"
EXPECTED_PROMPTS = {  # the real hub templates render ONE_IMAGE like this
    "idefics3": _SMOLVLM_PROMPT,
    "smolvlm": _SMOLVLM_PROMPT,
    "qwen2_vl": _QWEN2_PROMPT,
    "qwen2_5_vl": _QWEN2_PROMPT,
    "qwen3_vl": _QWEN3_PROMPT,
    "qwen3_vl_moe": _QWEN3_PROMPT,
    "llava": "USER: <image>\nWhat is this? ASSISTANT:",
    "llava_next": "[INST] <image>\nWhat is this? [/INST]",
    "llava_onevision": "<|im_start|>user <image>\nWhat is this?<|im_end|><|im_start|>assistant\n",
    "internvl": "<|im_start|>user\n<IMG_CONTEXT>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n",
    "idefics2": "User:<image>What is this?<end_of_utterance>\nAssistant:",
    "llava_next_video": "USER: <image>\nWhat is this? ASSISTANT:",
    "mistral3": "<s>[INST][IMG]What is this?[/INST]",
    "lfm2_vl": "<|startoftext|><|im_start|>user\n<image>What is this?<|im_end|>\n<|im_start|>assistant\n",
    "qwen3_5": _QWEN3_PROMPT + "<think>\n",
    "qwen3_5_moe": _QWEN3_PROMPT + "<think>\n",
    "glm4v": "[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>What is this?<|assistant|>\n",
    "gemma3": "<bos><start_of_turn>user\n<start_of_image>What is this?<end_of_turn>\n<start_of_turn>model\n",
    "paligemma": "<image>What is this?",  # no hub template: the processor adds <bos> after the images, "\n" at the end
    "gemma4": "<bos><|turn>user\n<|image|>What is this?<turn|>\n<|turn>model\n",
    "gemma4_unified": "<bos><|turn>user\n<|image|>What is this?<turn|>\n<|turn>model\n",
    "molmo2": "<|image|><|im_start|>user\nWhat is this?<|im_end|>\n<|im_start|>assistant\n",  # processor adds BOS
    "minicpmv4_6": "<|im_start|>user\n<|image_pad|>What is this?<|im_end|>\n<|im_start|>assistant\n",
    "fast_vlm": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n",
}


@dataclass(frozen=True)
class Loaded:
    family: str
    folder: Path
    processor: ProcessorMixin
    model: PreTrainedModel


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return sample_photos()


@pytest.fixture(scope="module", params=MODEL_TYPES)
def loaded(request: pytest.FixtureRequest, tiny_checkpoint) -> Loaded:
    folder = tiny_checkpoint(request.param)
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    return Loaded(family=request.param, folder=folder, processor=processor, model=model)


def _image_token_id(model: PreTrainedModel) -> int:
    config = model.config
    return config.image_token_id if hasattr(config, "image_token_id") else config.image_token_index


def _eos_ids(model: PreTrainedModel) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos) if isinstance(eos, list) else {eos}


def _generate(model: PreTrainedModel, inputs) -> torch.Tensor:
    with torch.no_grad():
        output = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)  # (batch, prompt + new)
    return output[:, inputs["input_ids"].shape[1] :]  # (batch, <= NEW_TOKENS)


def _check_new_tokens(new: torch.Tensor, eos_ids: set[int]) -> None:
    assert 1 <= new.shape[1] <= NEW_TOKENS
    if new.shape[1] < NEW_TOKENS:
        assert all(any(int(t) in eos_ids for t in row) for row in new), "stopped early without eos"


def test_families_cover_the_supported_types() -> None:
    assert set(MODEL_TYPES) == set(EXPECTED_PROMPTS)


def test_unknown_family_raises_with_the_list(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="llava_onevision"):
        build_tiny_checkpoint("gpt2", tmp_path)


def test_chat_template_matches_hub_format(loaded: Loaded) -> None:
    prompt = loaded.processor.apply_chat_template(ONE_IMAGE, add_generation_prompt=True, tokenize=False)
    assert prompt == EXPECTED_PROMPTS[loaded.family]


def test_ids_agree_across_config_tokenizer_and_generation(loaded: Loaded) -> None:
    tokenizer = loaded.processor.tokenizer
    text_config = loaded.model.config.get_text_config()
    assert tokenizer.padding_side == "left"
    assert text_config.vocab_size >= len(tokenizer)
    # Gemma 3's processor.image_token is the <start_of_image> the template writes; the
    # features replace the soft token it expands to (tokenizer.image_token)
    placeholder = tokenizer.image_token if loaded.family == "gemma3" else loaded.processor.image_token
    if loaded.family == "molmo2":  # its `<|image|>` expands to rows of `<im_patch>`, the token the features fill
        placeholder = "<im_patch>"
    assert tokenizer.convert_ids_to_tokens(_image_token_id(loaded.model)) == placeholder
    assert tokenizer.eos_token_id in _eos_ids(loaded.model)
    assert text_config.eos_token_id == tokenizer.eos_token_id
    assert loaded.model.generation_config.pad_token_id == tokenizer.pad_token_id == text_config.pad_token_id


def test_loaded_weights_are_the_saved_ones(loaded: Loaded, tmp_path: Path) -> None:
    # save_pretrained writes hub-style key names, so compare saved files rather than state dicts
    loaded.model.save_pretrained(tmp_path)
    saved = load_file(loaded.folder / "model.safetensors")
    resaved = load_file(tmp_path / "model.safetensors")
    assert saved.keys() == resaved.keys()
    assert all(torch.equal(saved[name], resaved[name]) for name in saved)


def test_generate_one_image(loaded: Loaded, photos: list[Image.Image]) -> None:
    prompt = loaded.processor.apply_chat_template(ONE_IMAGE, add_generation_prompt=True, tokenize=False)
    inputs = loaded.processor(images=[photos[2]], text=prompt, return_tensors="pt")
    num_image_tokens = int((inputs["input_ids"] == _image_token_id(loaded.model)).sum())
    assert 4 <= num_image_tokens <= 128  # tens of visual tokens, not thousands
    _check_new_tokens(_generate(loaded.model, inputs), _eos_ids(loaded.model))


def test_generate_batch_with_one_and_two_images(loaded: Loaded, photos: list[Image.Image]) -> None:
    processor = loaded.processor
    prompts = [
        processor.apply_chat_template(ONE_IMAGE, add_generation_prompt=True, tokenize=False),
        processor.apply_chat_template(TWO_IMAGES, add_generation_prompt=True, tokenize=False),
    ]
    images = [[photos[0]], [photos[4], photos[5]]]  # square; portrait + very wide
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    mask = inputs["attention_mask"]  # (2, seq)
    assert mask[:, -1].all() and not mask[:, 0].all(), "expected left padding"
    new = _generate(loaded.model, inputs)
    assert new.shape[0] == 2
    _check_new_tokens(new, _eos_ids(loaded.model))


def test_generate_one_video(loaded: Loaded, photos: list[Image.Image]) -> None:
    if getattr(loaded.processor, "video_processor", None) is None:
        pytest.skip(f"{loaded.family} has no video processor")
    frames = np.stack([np.asarray(photos[1].resize((96, 64)))] * 8)  # (8, 64, 96, 3) uint8
    metadata = VideoMetadata(
        total_num_frames=8, fps=2.0, duration=4.0, frames_indices=list(range(8)), height=64, width=96
    )
    video_turn = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}]
    prompt = loaded.processor.apply_chat_template(video_turn, add_generation_prompt=True, tokenize=False)
    inputs = loaded.processor(
        videos=[frames], text=prompt, video_metadata=[metadata], do_sample_frames=False, return_tensors="pt"
    )
    _check_new_tokens(_generate(loaded.model, inputs), _eos_ids(loaded.model))


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_same_seed_same_weights(family: str, tiny_checkpoint, tmp_path: Path) -> None:
    reference = load_file(tiny_checkpoint(family) / "model.safetensors")
    again = load_file(build_tiny_checkpoint(family, tmp_path / "again", seed=0) / "model.safetensors")
    other = load_file(build_tiny_checkpoint(family, tmp_path / "other", seed=1) / "model.safetensors")
    assert reference.keys() == again.keys() == other.keys()
    assert all(torch.equal(reference[name], again[name]) for name in reference)
    assert not all(torch.equal(reference[name], other[name]) for name in reference)


def test_smolvlm_256m_config_has_the_real_size() -> None:
    from transformers import SmolVLMForConditionalGeneration

    config = smolvlm_256m_config()
    with torch.device("meta"):
        model = SmolVLMForConditionalGeneration(config)
    num_params = sum(p.numel() for p in model.parameters())
    assert 250e6 < num_params < 262e6
    tokens_per_tile = (config.vision_config.image_size // config.vision_config.patch_size // config.scale_factor) ** 2
    assert tokens_per_tile == 64
    assert config.text_config.vocab_size == 49280


def test_qwen2_vl_2b_config_has_the_real_size() -> None:
    from transformers import Qwen2VLForConditionalGeneration

    config = qwen2_vl_2b_config()
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(config)
    num_params = sum(p.numel() for p in model.parameters())
    assert 2.19e9 < num_params < 2.23e9  # the hub checkpoint: 2,208,985,600
    assert config.text_config.vocab_size == 151936 and config.tie_word_embeddings


def test_sample_photos_are_rgb_with_varied_shapes() -> None:
    photos = sample_photos()
    assert len(photos) >= 4
    assert all(p.mode == "RGB" for p in photos)
    ratios = [p.width / p.height for p in photos]
    assert min(ratios) < 0.8 and max(ratios) > 3 and any(r == 1 for r in ratios)
