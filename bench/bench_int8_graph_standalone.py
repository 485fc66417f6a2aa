"""A decode step outside the engine, eager or compiled, float32 or int8: what inductor can do (issue 16).

    python bench/bench_int8_graph_standalone.py --model DIR VARIANT [VARIANT ...]

The language model of a SmolVLM2-style checkpoint (`--model`, e.g. the real-size random one
from `vlmcli.testing.build_smolvlm_256m_random`) rebuilt as a plain module: fused q/k/v and
gate/up, a static KV cache of `--capacity` positions with a mask, the LM head; one token
per call at batch 1, 64 steps from position 900 (a 13-tile photo's context), 3 rounds.
VARIANT is words joined by '-':
- `fp32` | `ao` (torchao dynamic int8: `Int8DynamicActivationInt8WeightConfig`) | `pt2e`
  (torchao's PT2E flow with `X86InductorQuantizer`, dynamic): the weights;
- `compile` (torch.compile, fullgraph, freezing), `cppwrap` (inductor's C++ wrapper),
  `dynamic` (symbolic shapes instead of fixed ones);
- `buffers` keeps the cache as module buffers (one tensor for all layers) instead of one
  input tensor per layer.
`ao` and `pt2e` need torchao (`pip install torchao`), which vlmcli does not depend on.
"""

from __future__ import annotations

import argparse
import time


def build(model_dir: str, *, capacity: int, per_layer_inputs: bool):
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    lm = model.model.text_model
    cfg = lm.config
    heads, kv, width = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size
    dim, count, half = width // heads, cfg.num_hidden_layers, width // heads // 2

    def linear(*weights):
        weight = torch.cat([w.detach() for w in weights])  # (N, K)
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        layer.weight = torch.nn.Parameter(weight.clone(), requires_grad=False)
        return layer

    class Layer(torch.nn.Module):
        def __init__(self, source):
            super().__init__()
            attn, mlp = source.self_attn, source.mlp
            self.qkv, self.o = linear(attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight), linear(attn.o_proj.weight)
            self.gate_up, self.down = linear(mlp.gate_proj.weight, mlp.up_proj.weight), linear(mlp.down_proj.weight)
            self.n1 = torch.nn.Parameter(source.input_layernorm.weight.detach().clone(), requires_grad=False)
            self.n2 = torch.nn.Parameter(source.post_attention_layernorm.weight.detach().clone(), requires_grad=False)
            self.inner = mlp.gate_proj.out_features

    def rms(h, w):
        return w * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps))

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(Layer(layer) for layer in lm.layers)
            self.norm = torch.nn.Parameter(lm.norm.weight.detach().clone(), requires_grad=False)
            self.head = linear(model.lm_head.weight)
            self.register_buffer("k", torch.zeros(count, 1, kv, capacity, dim))  # (L, 1, KV, C, Dh)
            self.register_buffer("v", torch.zeros(count, 1, kv, capacity, dim))

        def forward(self, x, pos, cos, sin, keys=None, values=None):  # x (1, 1, D), pos (1,), cos/sin (1, 1, Dh)
            keys = self.k if keys is None else keys
            values = self.v if values is None else values
            mask = (torch.arange(capacity) <= pos)[None, None, None, :]  # (1, 1, 1, C)
            for i, layer in enumerate(self.layers):
                qkv = layer.qkv(rms(x, layer.n1))  # (1, 1, (H + 2 KV) Dh)
                q = qkv[..., : heads * dim].view(1, 1, heads, dim).transpose(1, 2)  # (1, H, 1, Dh)
                k = qkv[..., heads * dim : (heads + kv) * dim].view(1, 1, kv, dim).transpose(1, 2)  # (1, KV, 1, Dh)
                v = qkv[..., (heads + kv) * dim :].view(1, 1, kv, dim).transpose(1, 2)

                def rotate(t):
                    return t * cos + torch.cat([-t[..., half:], t[..., :half]], -1) * sin

                q, k = rotate(q), rotate(k)
                keys[i].index_copy_(2, pos, k)
                values[i].index_copy_(2, pos, v)
                out = F.scaled_dot_product_attention(
                    q.reshape(1, kv, heads // kv, dim), keys[i], values[i], attn_mask=mask, scale=dim**-0.5
                )  # (1, KV, G, Dh)
                x = x + layer.o(out.reshape(1, 1, heads * dim))
                gate, up = layer.gate_up(rms(x, layer.n2)).split(layer.inner, -1)
                x = x + layer.down(F.silu(gate) * up)
            return self.head(rms(x, self.norm))  # (1, 1, V)

    step = Step().eval()
    inputs = None
    if per_layer_inputs:
        inputs = ([torch.zeros(1, kv, capacity, dim) for _ in range(count)], [torch.zeros(1, kv, capacity, dim) for _ in range(count)])
    return step, lm.rotary_emb, width, inputs


def run(model_dir: str, variant: str, *, capacity: int) -> None:
    import torch

    words = set(variant.split("-"))
    step, rope, width, caches = build(model_dir, capacity=capacity, per_layer_inputs="buffers" not in words)
    x = torch.randn(1, 1, width)  # (1, 1, D)

    def args(p: int):
        pos = torch.tensor([p])
        cos, sin = rope(x, pos[None])
        return (x, pos, cos, sin) + (caches or ())

    if words & {"ao", "pt2e"}:
        import importlib.util

        if importlib.util.find_spec("torchao") is None:
            raise SystemExit("the ao and pt2e variants need torchao: pip install torchao")
    if "ao" in words:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        quantize_(step, Int8DynamicActivationInt8WeightConfig())
    if "pt2e" in words:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config(is_dynamic=True))
        prepared = prepare_pt2e(torch.export.export(step, args(899)).module(), quantizer)
        prepared(*args(899))
        step = convert_pt2e(prepared)
    fn = step
    if "compile" in words:
        import torch._inductor.config as inductor_config

        # set globally: passed in torch.compile's `options`, freezing is not applied (27 vs 13 ms/token)
        inductor_config.freezing = True
        inductor_config.cpp_wrapper = "cppwrap" in words
        fn = torch.compile(step, fullgraph=True, dynamic=True if "dynamic" in words else None)
    with torch.no_grad():
        start = time.perf_counter()
        fn(*args(899))
        first = time.perf_counter() - start
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            for p in range(900, 964):
                fn(*args(p))
            rounds.append((time.perf_counter() - start) / 64 * 1000)
    print(f"{variant:28s} first call {first:6.1f} s   ms/token {', '.join(f'{r:.2f}' for r in rounds)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--capacity", type=int, default=1024)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    for variant in args.variants:
        run(args.model, variant, capacity=args.capacity)


if __name__ == "__main__":
    main()
