"""transformers' own greedy path, the yardstick the engine's output is compared with.

`hf_greedy` runs what a transformers user would: the processor on the chat template (left
padding), then `model.generate(do_sample=False)`, on the engine's own loaded model, with
the inputs moved to the model's device and dtype. Rows are cut after the first EOS, as the
engine stops. Used by tests/test_engine_parity.py (CPU) and bench/gpu/parity_cuda.py (any
device).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection

    import torch

    from vlmcli.engine import Engine, Request


def hf_greedy(engine: "Engine", requests: "list[Request]", *, new_tokens: int) -> list[list[int]]:
    """Token ids `model.generate` produces for `requests`, one list per request, cut after EOS."""
    import torch

    processor = engine.loaded.processor
    processor.tokenizer.padding_side = "left"
    texts = [engine.adapter.prompt_text(r) for r in requests]
    images = [[im.image for im in r.images] for r in requests]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    model = engine.adapter.model
    param = next(model.parameters())
    inputs = {
        k: (v.to(param.device, param.dtype) if torch.is_floating_point(v) else v.to(param.device))
        if torch.is_tensor(v) else v
        for k, v in inputs.items()
    }
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)  # (B, P + N)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)


def new_tokens_until_eos(out: "torch.Tensor", *, prompt_length: int, eos: "Collection[int]") -> list[list[int]]:
    """`generate`'s rows (B, P + N) without the prompt, each cut after its first EOS (kept)."""
    rows = []
    for row in out[:, prompt_length:].tolist():
        kept = []
        for token in row:
            kept.append(token)
            if token in eos:
                break
        rows.append(kept)
    return rows
