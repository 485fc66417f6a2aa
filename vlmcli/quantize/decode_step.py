"""A lean decode step for Llama-style decoders under `--quantize int8` (issue 16, decode).

Once the weights are int8, most of a batch-1 decode step of a small model is not the
weights: at SmolVLM2-256M size on 2 cores the int8 matrix calls are ~7 ms of a ~23 ms step;
the rest is transformers' per-layer Python (mask and cache bookkeeping, module calls, the
rotary helper's slices and concatenations) and ~15 small operators per layer
(bench/RESULTS.md, issue 16, "Session 10"). This step runs the same arithmetic in far
fewer operations: the fused q/k/v and gate/up layers (`fused_linear`), rotary embedding as
two multiplies over q and k together, the KV cache updated through the cache's own
`update`, one attention call per layer.

Same numbers: every operation mirrors the transformers layer it replaces (RMSNorm as
`w * (h * rsqrt(mean(h^2) + eps))`, rotary as `q*cos + rotate_half(q)*sin`, attention
through the same SDPA call with the same GQA handling), so its hidden states equal the
eager int8 decoder's (tests/test_quantize_step.py checks the logits and the tokens).

Only decoder layers whose structure is known are taken (`LAYERS`): Llama, Mistral without
a sliding window, Qwen2 without one. Anything else keeps transformers' decoder; `why_not`
says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

LAYERS = frozenset({"LlamaDecoderLayer", "MistralDecoderLayer", "Qwen2DecoderLayer"})
"""Decoder layer classes with pre-norm attention (q/k/v/o, no q/k norm) and a gated MLP."""


@dataclass(frozen=True)
class _Layer:
    """One decoder layer's parts, as the step uses them."""

    norm1: "torch.Tensor"  # (D,)
    eps1: float
    qkv: Any  # FusedInt8Linear, (D -> (H + 2 KV) Dh)
    o: Any  # Int8Linear
    norm2: "torch.Tensor"  # (D,)
    eps2: float
    gate_up: Any  # FusedInt8Linear, (D -> 2 I)
    down: Any  # Int8Linear
    act: Any
    scaling: float


@dataclass
class StepOutput:
    """What the engine reads from a decoder call."""

    last_hidden_state: "torch.Tensor"  # (B, 1, D)


def why_not(decoder: Any) -> str | None:
    """None when `FusedDecodeStep` can run `decoder`, else the reason it cannot."""
    from vlmcli.quantize.fused_linear import Int8Part
    from vlmcli.quantize.int8_linear import Int8Linear

    layers = getattr(decoder, "layers", None)
    if not layers:
        return "the decoder has no list of layers"
    config = decoder.config
    kinds = {type(layer).__name__ for layer in layers}
    if not kinds <= LAYERS:
        return f"decoder layers {', '.join(sorted(kinds - LAYERS))} are not among {', '.join(sorted(LAYERS))}"
    if getattr(config, "sliding_window", None) is not None and getattr(config, "use_sliding_window", True):
        return "the decoder uses sliding-window attention"
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        return "some decoder layers are not full attention"
    for layer in layers:
        attn, mlp = layer.self_attn, layer.mlp
        parts = (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj)
        if not all(isinstance(p, Int8Part) for p in parts):
            return "the decoder's projections are not fused int8 layers"
        if not (attn.q_proj.fused is attn.k_proj.fused is attn.v_proj.fused and mlp.gate_proj.fused is mlp.up_proj.fused):
            return "q/k/v or gate/up are not one fused layer"
        if not (isinstance(attn.o_proj, Int8Linear) and isinstance(mlp.down_proj, Int8Linear)):
            return "o_proj or down_proj is not an int8 layer"
    return None


class FusedDecodeStep:
    """Call like the decoder for one new token per row: `step(inputs_embeds=(B, 1, D),
    attention_mask=(B, L), position_ids=(B, 1), cache=... | past_key_values=...)`."""

    inference_mode = True
    """Runs under `torch.inference_mode`, like the eager decoder (a compiled step cannot)."""
    compiled = False

    @classmethod
    def for_decoder(cls, decoder: Any) -> "FusedDecodeStep | None":
        """The step for `decoder`, or None when it cannot run it (`why_not` says why)."""
        return cls(decoder) if why_not(decoder) is None else None

    def __init__(self, decoder: Any) -> None:
        """`decoder` must pass `why_not` (use `for_decoder` when it may not)."""
        config = decoder.config
        self.decoder = decoder
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.layers = [
            _Layer(
                norm1=layer.input_layernorm.weight,
                eps1=layer.input_layernorm.variance_epsilon,
                qkv=layer.self_attn.q_proj.fused,
                o=layer.self_attn.o_proj,
                norm2=layer.post_attention_layernorm.weight,
                eps2=layer.post_attention_layernorm.variance_epsilon,
                gate_up=layer.mlp.gate_proj.fused,
                down=layer.mlp.down_proj,
                act=layer.mlp.act_fn,
                scaling=layer.self_attn.scaling,
            )
            for layer in decoder.layers
        ]
        self.norm, self.norm_eps = decoder.norm.weight, decoder.norm.variance_epsilon

    def __call__(
        self,
        *,
        inputs_embeds: "torch.Tensor",
        attention_mask: "torch.Tensor",
        position_ids: "torch.Tensor",
        use_cache: bool = True,
        **kv: Any,
    ) -> StepOutput:
        cache = one_step_cache(kv, inputs_embeds, step="FusedDecodeStep")
        cos, sin = rotary_halves(self.decoder, inputs_embeds, position_ids, head_dim=self.head_dim)  # (B, 1, 2, Dh/2) each
        mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        hidden = inputs_embeds  # (B, 1, D)
        for index, layer in enumerate(self.layers):
            attended = self._attention(layer, _rms(hidden, layer.norm1, layer.eps1), index, cache, cos, sin, mask)
            hidden = hidden + attended  # (B, 1, D)
            gate, up = layer.gate_up(_rms(hidden, layer.norm2, layer.eps2)).split(layer.gate_up.splits, dim=-1)
            hidden = hidden + layer.down(layer.act(gate) * up)  # (B, 1, D)
        return StepOutput(last_hidden_state=_rms(hidden, self.norm, self.norm_eps))

    def _attention(
        self,
        layer: _Layer,
        x: "torch.Tensor",
        index: int,
        cache: Any,
        cos: "torch.Tensor",
        sin: "torch.Tensor",
        mask: "torch.Tensor | None",
    ) -> "torch.Tensor":
        import torch

        batch, heads, kv_heads, dim = x.shape[0], self.heads, self.kv_heads, self.head_dim
        qkv = layer.qkv(x)  # (B, 1, (H + 2 KV) Dh)
        qk = qkv[:, 0, : (heads + kv_heads) * dim].reshape(batch, heads + kv_heads, 2, dim // 2)  # (B, H+KV, 2, Dh/2)
        qk = qk * cos + qk.flip(-2) * sin  # rotary: x*cos + rotate_half(x)*sin, (B, H+KV, 2, Dh/2)
        qk = qk.view(batch, heads + kv_heads, 1, dim)  # (B, H+KV, 1, Dh)
        value = qkv[:, 0, (heads + kv_heads) * dim :].reshape(batch, kv_heads, 1, dim)  # (B, KV, 1, Dh)
        keys, values = cache.update(qk[:, heads:], value, index)  # (B, KV, L, Dh) each
        query = qk[:, :heads]  # (B, H, 1, Dh)
        if heads == kv_heads:
            out = torch.nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=layer.scaling)
        elif mask is None:
            out = torch.nn.functional.scaled_dot_product_attention(
                query, keys, values, scale=layer.scaling, enable_gqa=True
            )  # (B, H, 1, Dh)
        else:  # as transformers: the group's queries as a query length over each KV head
            packed = query.reshape(batch, kv_heads, heads // kv_heads, dim)  # (B, KV, G, Dh)
            out = torch.nn.functional.scaled_dot_product_attention(packed, keys, values, attn_mask=mask, scale=layer.scaling)
        out = out.reshape(batch, heads, 1, dim).transpose(1, 2).reshape(batch, 1, heads * dim)  # (B, 1, H Dh)
        return layer.o(out)  # (B, 1, D)


def one_step_cache(kv: dict[str, Any], inputs_embeds: "torch.Tensor", *, step: str) -> Any:
    """The KV cache a decode-step call was given (`cache=` or `past_key_values=`); ValueError
    for any other keyword or more than one new position per row."""
    cache = kv.pop("cache", None) or kv.pop("past_key_values", None)
    if cache is None or kv or inputs_embeds.shape[1] != 1:
        raise ValueError(f"{step} takes one new position per row and the KV cache, nothing else")
    return cache


def rotary_halves(
    decoder: Any, inputs_embeds: "torch.Tensor", position_ids: "torch.Tensor", *, head_dim: int
) -> tuple["torch.Tensor", "torch.Tensor"]:
    """cos and sin of the new positions, each (B, 1, 2, Dh/2), sin with rotate_half's signs
    (-1 then +1) applied: rotary is then `x * cos + x.flip(-2) * sin` on x viewed as (..., 2, Dh/2)."""
    import torch

    batch, half = inputs_embeds.shape[0], head_dim // 2
    cos, sin = decoder.rotary_emb(inputs_embeds, position_ids)  # (B, 1, Dh) each
    sign = torch.tensor([-1.0, 1.0], dtype=sin.dtype, device=sin.device).repeat_interleave(half).view(2, half)  # (2, Dh/2)
    return cos.view(batch, 1, 2, half), sin.view(batch, 1, 2, half) * sign


def _rms(hidden: "torch.Tensor", weight: "torch.Tensor", eps: float) -> "torch.Tensor":
    """transformers' RMSNorm in float32, operation for operation."""
    import torch

    return weight * (hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + eps))  # (B, 1, D)
