"""`--quantize int8 --compile`: the fused int8 decode step as one inductor graph (issue 16, decode).

The eager fused step (`decode_step.FusedDecodeStep`) does a decode step's arithmetic in few
operators, but each int8 matrix is a call into FBGEMM with a TorchScript packed-weight
object that dynamo cannot trace, so compiling it cuts the graph at every matrix and runs
slower (bench/RESULTS.md, issue 16, "Session 11"). Here the same layers run on traceable
operators, so inductor compiles the whole step, all layers, into one graph:

- int8 matrices as `torch._int_mm` (int8 x int8 -> int32) on the layers' own int8 weights
  (unpacked once from FBGEMM's packing), activations quantised per row, symmetric,
  inside the graph: `y = (round(x / s_x) @ W_q^T) * s_x * s_w (+ b)`, `s_x = max|x_row| / 127`;
- the KV cache written in place in the engine's growing cache (`engine.kvcache`): every
  layer's buffer (B, KV, capacity, Dh) is a graph input, the new position is written with
  `index_copy_`, and attention reads the whole buffer under a mask of the filled
  positions, so the shapes change only when the buffer grows, not at every token.

What changes: activations take one scale per row instead of one per call (FBGEMM's
dynamic quantisation), so tokens can differ from the eager int8 step's; its hidden states
stay within int8 noise of that step's (tests/test_quantize_compiled_step.py). Compiling
takes 1-2 minutes on 2 cores the first time (inductor's on-disk cache makes later processes
faster): for long jobs, like every `--compile`. The decoder's int8 weights are held twice
(FBGEMM's packing for the eager prefill, plain int8 for the graph): +1 byte per decoder weight.

Speed (bench/RESULTS.md, issue 16, "Session 12"): at SmolVLM2-256M size on 2 cores this step
decodes at 16.7 ms/token, 0.95x the eager fused step's 15.8 ms, and 3x faster than compiling
transformers' decoder over the int8 layers (the `--compile` path before it, 50 ms). The
graph is compiled with symbolic batch and cache sizes, so new photos and batch sizes do not
recompile it (fixed sizes measured no faster in the engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.compiled import check_can_compile, run_compiled
from vlmcli.quantize.decode_step import StepOutput, _rms, one_step_cache, rotary_halves, why_not

if TYPE_CHECKING:
    import torch

QMAX = 127.0
"""Symmetric int8 range of the activations (and of the weights, quantised the same way)."""


def int8_matmul(x: "torch.Tensor", weight_t: "torch.Tensor", scale: "torch.Tensor", bias: "torch.Tensor | None") -> "torch.Tensor":
    """x (M, K) float32 times int8 weights `weight_t` (K, N) with per-column `scale` (N,): float32 (M, N)."""
    import torch

    step = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / QMAX  # (M, 1)
    quantised = torch.round(x / step).clamp(-QMAX, QMAX).to(torch.int8)  # (M, K)
    out = torch._int_mm(quantised, weight_t).to(torch.float32) * step * scale  # (M, N)
    return out if bias is None else out + bias


def _module_base() -> type:
    import torch

    return torch.nn.Module


class _Linear(_module_base()):  # type: ignore[misc]
    """An `Int8Linear`'s int8 weights as plain tensors, for `int8_matmul`."""

    def __init__(self, layer: Any) -> None:
        import torch

        super().__init__()
        qweight, bias = torch.ops.quantized.linear_unpack(layer._packed)  # (N, K) qint8, (N,) | None
        self.register_buffer("weight_t", qweight.int_repr().t().contiguous())  # (K, N) int8
        self.register_buffer("scale", qweight.q_per_channel_scales().to(torch.float32))  # (N,)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())  # (N,)
        self.out_features = layer.out_features

    def forward(self, x: "torch.Tensor") -> "torch.Tensor":
        flat = x.reshape(-1, x.shape[-1])  # (M, K)
        return int8_matmul(flat, self.weight_t, self.scale, self.bias).reshape(*x.shape[:-1], self.out_features)


class _Layer(_module_base()):  # type: ignore[misc]
    def __init__(self, layer: Any) -> None:
        super().__init__()
        attn, mlp = layer.self_attn, layer.mlp
        self.register_buffer("norm1", layer.input_layernorm.weight.detach())  # (D,)
        self.register_buffer("norm2", layer.post_attention_layernorm.weight.detach())  # (D,)
        self.eps1, self.eps2 = layer.input_layernorm.variance_epsilon, layer.post_attention_layernorm.variance_epsilon
        self.qkv, self.o = _Linear(attn.q_proj.fused), _Linear(attn.o_proj)
        self.gate_up, self.down = _Linear(mlp.gate_proj.fused), _Linear(mlp.down_proj)
        self.splits = mlp.gate_proj.fused.splits
        self.act = mlp.act_fn
        self.scaling = attn.scaling


class Int8Graph(_module_base()):  # type: ignore[misc]
    """The decoder layers and final norm of one decode step, on traceable operators (runs eagerly
    too: the tests compare it with the compiled graph and with the eager fused step)."""

    def __init__(self, decoder: Any) -> None:
        super().__init__()
        config = decoder.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.layers = _module_list([_Layer(layer) for layer in decoder.layers])
        self.register_buffer("norm", decoder.norm.weight.detach())  # (D,)
        self.norm_eps = decoder.norm.variance_epsilon

    def forward(
        self,
        hidden: "torch.Tensor",  # (B, 1, D)
        cos: "torch.Tensor",  # (B, 1, 2, Dh/2)
        sin: "torch.Tensor",  # (B, 1, 2, Dh/2), rotate_half's signs applied
        mask: "torch.Tensor",  # (B, 1, 1, C) bool: filled positions and the new one
        position: "torch.Tensor",  # (1,) long: where the new position is written
        keys: "list[torch.Tensor]",  # per layer (B, KV, C, Dh), written in place
        values: "list[torch.Tensor]",
    ) -> "torch.Tensor":
        import torch

        batch, heads, kv_heads, dim = hidden.shape[0], self.heads, self.kv_heads, self.head_dim
        for index, layer in enumerate(self.layers):
            qkv = layer.qkv(_rms(hidden, layer.norm1, layer.eps1))  # (B, 1, (H + 2 KV) Dh)
            qk = qkv[:, 0, : (heads + kv_heads) * dim].reshape(batch, heads + kv_heads, 2, dim // 2)  # (B, H+KV, 2, Dh/2)
            qk = (qk * cos + qk.flip(-2) * sin).reshape(batch, heads + kv_heads, 1, dim)  # rotary, (B, H+KV, 1, Dh)
            value = qkv[:, 0, (heads + kv_heads) * dim :].reshape(batch, kv_heads, 1, dim)  # (B, KV, 1, Dh)
            keys[index].index_copy_(2, position, qk[:, heads:])
            values[index].index_copy_(2, position, value)
            query = qk[:, :heads].reshape(batch, kv_heads, heads // kv_heads, dim)  # (B, KV, G, Dh): a group's queries as a length
            out = torch.nn.functional.scaled_dot_product_attention(
                query, keys[index], values[index], attn_mask=mask, scale=layer.scaling
            )  # (B, KV, G, Dh)
            hidden = hidden + layer.o(out.reshape(batch, 1, heads * dim))  # (B, 1, D)
            gate, up = layer.gate_up(_rms(hidden, layer.norm2, layer.eps2)).split(layer.splits, dim=-1)
            hidden = hidden + layer.down(layer.act(gate) * up)  # (B, 1, D)
        return _rms(hidden, self.norm, self.norm_eps)  # (B, 1, D)


def _inductor_config() -> Any:
    import torch._inductor.config

    return torch._inductor.config


def _module_list(modules: list) -> Any:
    import torch

    return torch.nn.ModuleList(modules)


class CompiledInt8Step:
    """Call like the decoder for one new token per row (as `FusedDecodeStep`), with the engine's
    growing KV cache; the layers run as one compiled graph (`Int8Graph`)."""

    inference_mode = False
    """inductor cannot trace inference tensors: generation runs under `torch.no_grad`."""
    compiled = True

    @classmethod
    def for_decoder(cls, decoder: Any, *, device_type: str, compile: bool = True) -> "CompiledInt8Step | None":
        """The step for `decoder`, or None when the fused step's layouts do not fit it (`why_not`)."""
        return cls(decoder, device_type=device_type, compile=compile) if why_not(decoder) is None else None

    def __init__(self, decoder: Any, *, device_type: str, compile: bool = True) -> None:
        """`compile=False` runs the same graph eagerly (for tests)."""
        import torch

        if compile:
            check_can_compile(device_type)
        self.decoder = decoder
        self.graph = Int8Graph(decoder).eval()
        self._run: Any = (
            torch.compile(self.graph, dynamic=True, fullgraph=True, options={"cpp_wrapper": True})
            if compile
            else self.graph
        )

    def __call__(
        self,
        *,
        inputs_embeds: "torch.Tensor",
        attention_mask: "torch.Tensor",
        position_ids: "torch.Tensor",
        use_cache: bool = True,
        **kv: Any,
    ) -> StepOutput:
        import torch

        cache = one_step_cache(kv, inputs_embeds, step="CompiledInt8Step")
        layers = cache.layers
        if not all(hasattr(layer, "make_room") for layer in layers):
            raise ValueError("CompiledInt8Step needs the engine's growing KV cache (engine.kvcache.growing_cache)")
        length = layers[0].length
        if attention_mask.shape[1] != length + 1:
            raise ValueError(f"attention mask covers {attention_mask.shape[1]} positions, the cache {length} + 1")
        for layer in layers:
            layer.make_room(1)
        batch, capacity = inputs_embeds.shape[0], layers[0].capacity
        cos, sin = rotary_halves(self.decoder, inputs_embeds, position_ids, head_dim=self.graph.head_dim)  # (B, 1, 2, Dh/2) each
        mask = attention_mask.new_zeros((batch, capacity), dtype=torch.bool)  # (B, C)
        mask[:, : length + 1] = attention_mask.bool()
        position = torch.tensor([length], device=inputs_embeds.device)  # (1,)
        # freezing (weights folded into the graph as constants) is read outside inductor's
        # own options, so it is set around the call that compiles: passed in `options` it
        # is silently not applied (measured: 27 vs 13 ms/token standalone)
        with _inductor_config().patch(freezing=True):
            hidden = run_compiled(
                self._run, inputs_embeds, cos, sin, mask[:, None, None, :], position,
                [layer.storage()[0] for layer in layers], [layer.storage()[1] for layer in layers],
            )  # (B, 1, D)
        for layer in layers:
            layer.advance(1)
        return StepOutput(last_hidden_state=hidden)
