"""Random-weight checkpoints for the GPU check, built offline (no hub).

    python bench/gpu/build_checkpoints.py OUT_DIR [--device cuda] [--quick] [--only smolvlm-256m qwen2_5_vl-3b]

Writes one folder per model under OUT_DIR and prints a JSON line {name: folder}:

- smolvlm-256m: `vlmcli.testing.build_smolvlm_256m_random` (the real SmolVLM2-256M size and
  processor: 512 px tiles, 64 tokens per tile, longest edge 2048), float32 weights built on
  the CPU (~1 GB), exactly the checkpoint bench/RESULTS.md's CPU figures use.
- qwen2_5_vl-3b: the Qwen2.5-VL-3B-Instruct architecture (36-layer 2048-wide text model,
  32-layer 1280-wide windowed vision tower, vocabulary 151,936, tied embeddings, hub
  processor pixel bounds 3,136 to 12,845,056), random weights initialised directly on
  `--device` in bfloat16 (7.5 GB; seconds on a GPU, where a CPU init would take minutes)
  and saved in bfloat16. The tokenizer is the tests' small trained one padded with filler
  entries to 151,665 ids, like the hub's.

`--quick` builds the same two families at tiny sizes (seconds on a CPU): the tests' tiny
SmolVLM2 checkpoint and a small Qwen2.5-VL through the same code path as the 3B one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

# Hugging Face Qwen/Qwen2.5-VL-3B-Instruct config.json, as sizes.
QWEN25_3B_TEXT = {
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128000,
    "vocab_size": 151936,
    "mrope_section": [16, 24, 24],
}
QWEN25_3B_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
}
QWEN25_3B_TOKENIZER = 151665  # len(tokenizer) of the hub checkpoint
QWEN25_3B_PIXELS = (3136, 12845056)  # the hub processor's min_pixels, max_pixels

# The same code path at a size a CPU runs in seconds (head_dim 32: mrope sections sum to 16).
QWEN25_SMALL_TEXT = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "vocab_size": None,  # the tokenizer's, padded
    "mrope_section": [4, 6, 6],
}
QWEN25_SMALL_VISION = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "window_size": 56,
                       "fullatt_block_indexes": [1]}
QWEN25_SMALL_TOKENIZER = None
QWEN25_SMALL_PIXELS = (4 * 28 * 28, 64 * 28 * 28)  # 4 to 64 tokens per image


def qwen2_5_vl_config(*, quick: bool, tokenizer=None):
    """The Qwen2.5-VL config (3B size, or small with `quick`); token ids from `tokenizer` when given."""
    from transformers import Qwen2_5_VLConfig

    from vlmcli.testing.qwen import _token_ids
    from vlmcli.testing.tokenizer import padded_vocab_size, token_id

    text, vision = (QWEN25_SMALL_TEXT, QWEN25_SMALL_VISION) if quick else (QWEN25_3B_TEXT, QWEN25_3B_VISION)
    text = dict(text)
    section = text.pop("mrope_section")
    if tokenizer is None:
        tokenizer = qwen_tokenizer(quick=quick)
    vocab = text.pop("vocab_size") or padded_vocab_size(tokenizer=tokenizer)
    ids = _token_ids(tokenizer)
    text_config = {
        **text,
        "vocab_size": vocab,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "tie_word_embeddings": not quick,
        **ids.text_config_kwargs(),
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
    }
    vision_config = {
        **vision,
        "hidden_act": "silu",
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": text["hidden_size"],
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_id(tokenizer=tokenizer, token="<|image_pad|>"),
        video_token_id=token_id(tokenizer=tokenizer, token="<|video_pad|>"),
        vision_start_token_id=token_id(tokenizer=tokenizer, token="<|vision_start|>"),
        vision_end_token_id=token_id(tokenizer=tokenizer, token="<|vision_end|>"),
        tie_word_embeddings=not quick,
    )


def qwen_tokenizer(*, quick: bool):
    from vlmcli.testing import templates
    from vlmcli.testing.qwen import SPEC
    from vlmcli.testing.tokenizer import train_tokenizer

    total = QWEN25_SMALL_TOKENIZER if quick else QWEN25_3B_TOKENIZER
    return train_tokenizer(spec=SPEC, total_size=total, chat_template=templates.QWEN2_VL)


def build_qwen2_5_vl(out_dir: Path, *, device: str, quick: bool) -> Path:
    """A Qwen2.5-VL checkpoint (3B size, or small with `quick`), weights initialised on `device`."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2VLImageProcessor

    from vlmcli.testing import templates
    from vlmcli.testing.checkpoint import save_checkpoint
    from vlmcli.testing.qwen import QWEN2_5_VL, _token_ids, _video_processor

    tokenizer = qwen_tokenizer(quick=quick)
    config = qwen2_5_vl_config(quick=quick, tokenizer=tokenizer)
    low, high = QWEN25_SMALL_PIXELS if quick else QWEN25_3B_PIXELS
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            size={"shortest_edge": low, "longest_edge": high}, patch_size=14, temporal_patch_size=2, merge_size=2
        ),
        tokenizer=tokenizer,
        video_processor=_video_processor(QWEN2_5_VL),
        chat_template=templates.QWEN2_VL,
    )
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.eval()
    return save_checkpoint(model=model, processor=processor, token_ids=_token_ids(tokenizer), out_dir=out_dir)


def build_smolvlm(out_dir: Path, *, quick: bool) -> Path:
    from vlmcli.testing import build_smolvlm_256m_random, build_tiny_checkpoint

    return build_tiny_checkpoint("smolvlm", out_dir) if quick else build_smolvlm_256m_random(out_dir)


NAMES = ("smolvlm-256m", "qwen2_5_vl-3b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CPU dry run)")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args()
    built = {}
    for name in args.only:
        folder = args.out / name
        start = time.perf_counter()
        if (folder / "config.json").exists():
            built[name] = str(folder)
            continue
        if name == "smolvlm-256m":
            build_smolvlm(folder, quick=args.quick)
        else:
            build_qwen2_5_vl(folder, device=args.device, quick=args.quick)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e9
        print(f"built {name} in {folder}: {size:.2f} GB, {time.perf_counter() - start:.1f} s", flush=True)
        built[name] = str(folder)
    print(json.dumps(built))


if __name__ == "__main__":
    main()
