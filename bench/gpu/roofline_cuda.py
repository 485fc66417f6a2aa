"""Roofline on a GPU: the device's own limits, then each engine stage against them.

    python bench/gpu/roofline_cuda.py [--device cuda] [--quick] [--models smolvlm-256m=DIR qwen2_5_vl-3b=DIR]
                                      [--decode-batches 1 64] [--json-out FILE]

Probes (synchronised timing: CUDA events around each call, median of 10 after 3 warm-ups;
random data, never zeros):
- bf16 matmul, 8192^3 (TFLOP/s);
- device-to-device copy of 2 GiB (GB/s, bytes read + written).

Stages, per model (the architecture from each folder's config.json, random weights
initialised on the device, bfloat16; no weights are read from disk):
- vision tower: one call of the model's `get_image_features` on a full batch (SmolVLM:
  64 tiles of 512 px; Qwen2.5-VL: 8 images of 504x504 = 1,296 patches each); FLOPs counted by
  torch's FlopCounterMode; fraction of the bf16 matmul probe (issue 19's target: >= 40%
  of the bf16 tensor peak).
- decode: 16 single-token steps of the language model + LM head at batch 1 and batch 64,
  each on a 256-token in-place KV cache (vlmcli.engine.kvcache, what the engine decodes
  with); bytes a step must read (weights but the embedding table, the LM head, the KV
  caches) over the step time, fraction of the copy probe (target at batch 64: >= 50% of
  HBM bandwidth).
- decode, CUDA graph (cuda only, after everything else): the same step captured once with
  torch.cuda.graph and replayed, i.e. what the step costs without Python and launch overhead
  (issue 19 plans CUDA graphs for decode); a capture failure is recorded, not fatal.
- profiles: torch.profiler over one vision-tower call and one eager batch-64 decode call of
  each model: device kernel time against wall time, kernel launches, and the top operators
  (issue 19: "a miss is explained by a profile").

`--quick` (CPU dry run): 256^3 matmul, 16 MiB copy, 2 tiles / 2 small images, batches 1 and 4,
4 decode steps per call, 3 timed calls,
everything else the same code. The JSON is rewritten after every stage, so a timeout keeps
what was measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for bench_roofline's FLOP formula

NOMINAL = {  # datasheet-class ceilings for the targets, by device name (KINDS.md measured 769-798 TFLOP/s)
    "H200": {"bf16_tflops": 790.0, "hbm_gbps": 4800.0},
    "H100": {"bf16_tflops": 790.0, "hbm_gbps": 3350.0},
}
CONTEXT = 256
DECODE_STEPS = 16


class Timer:
    """Median seconds of a callable on `device`, synchronised (CUDA events on a GPU)."""

    def __init__(self, device: torch.device, *, quick: bool = False):
        self.cuda = device.type == "cuda"
        self.quick = quick  # one warm-up and three timed calls at most

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def __call__(self, fn: Callable[[], object], *, reps: int = 10, warmup: int = 3) -> float:
        if self.quick:
            reps, warmup = min(reps, 3), min(warmup, 1)
        for _ in range(warmup):
            fn()
        self.sync()
        times = []
        for _ in range(reps):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def matmul_probe(device, timer: Timer, n: int) -> float:
    """bf16 n^3 matmul, TFLOP/s (two input sets alternated, so no call reuses the last one's cache)."""
    sets = [(torch.randn(n, n, device=device, dtype=torch.bfloat16), torch.randn(n, n, device=device, dtype=torch.bfloat16))
            for _ in range(2)]
    out = torch.empty(n, n, device=device, dtype=torch.bfloat16)
    state = {"i": 0}

    def mm():
        a, b = sets[state["i"] % 2]
        state["i"] += 1
        torch.mm(a, b, out=out)

    return 2 * n**3 / timer(mm) / 1e12


def copy_probe(device, timer: Timer, nbytes: int) -> float:
    """Device-to-device copy, GB/s counting bytes read and written."""
    src = torch.rand(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / timer(lambda: dst.copy_(src)) / 1e9


def flops_of(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    from bench_roofline import cpu_attention_flops

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def load_random(folder: str, device, dtype):
    """The model class of `folder`'s config, random weights initialised on `device` (nothing read but config.json)."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(folder)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model.eval()


def vision_call(model, device, dtype, *, quick: bool) -> tuple[Callable[[], object], str]:
    """A full-batch call of the vision tower and a description of its input."""
    config = model.config
    if config.model_type in ("smolvlm", "idefics3"):
        size = config.vision_config.image_size
        tiles = 2 if quick else 64
        pixels = torch.randn(1, tiles, 3, size, size, device=device, dtype=dtype)  # (B, tiles, 3, H, W)
        return (lambda: model.model.get_image_features(pixel_values=pixels)), f"{tiles} tiles of {size} px"
    if config.model_type.startswith("qwen2"):
        vc = config.vision_config
        side = 4 if quick else 36  # patches per side: 36 x 14 = 504 px
        images = 2 if quick else 8
        grid = torch.tensor([[1, side, side]] * images, device=device)
        patch = vc.in_channels * vc.temporal_patch_size * vc.patch_size**2
        pixels = torch.randn(images * side * side, patch, device=device, dtype=dtype)  # (patches, C*T*P*P)
        call = lambda: model.model.get_image_features(pixel_values=pixels, image_grid_thw=grid)  # noqa: E731
        return call, f"{images} images of {side * vc.patch_size} px ({side * side} patches each)"
    raise ValueError(f"no vision stage for {config.model_type}")


def text_parts(model):
    decoder = getattr(model.model, "text_model", None) or model.model.language_model
    text = model.config.text_config if hasattr(model.config, "text_config") else model.config
    return decoder, text


def decode_setup(model, *, batch: int, device, dtype):
    """(step function doing DECODE_STEPS steps, one single step, bytes one step must read)."""
    from vlmcli.engine.kvcache import cache_keyword, growing_cache

    decoder, text = text_parts(model)
    key = cache_keyword(decoder)
    prompt = torch.randn(batch, CONTEXT, text.hidden_size, device=device, dtype=dtype)  # (B, L, D)
    kv = growing_cache(text, reserve=1)
    decoder(inputs_embeds=prompt, use_cache=True, **{key: kv})
    step_embeds = prompt[:, -1:].contiguous()  # (B, 1, D)

    def one() -> None:
        hidden = decoder(inputs_embeds=step_embeds, use_cache=True, **{key: kv}).last_hidden_state
        model.lm_head(hidden)
        kv.crop(-1)  # drop the new token: every step reads a CONTEXT-token cache

    def many() -> None:
        for _ in range(DECODE_STEPS):
            one()

    size = lambda t: t.numel() * t.element_size()  # noqa: E731
    weights = sum(size(p) for p in decoder.parameters()) + size(model.lm_head.weight)
    weights -= size(decoder.get_input_embeddings().weight)  # read one row per sequence, not the table
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv_bytes = 2 * text.num_hidden_layers * CONTEXT * text.num_key_value_heads * head_dim * prompt.element_size() * batch
    return many, one, weights + kv_bytes


def graph_step(one: Callable[[], None]) -> Callable[[], None]:
    """`one` captured in a CUDA graph (after warm-up on a side stream); returns DECODE_STEPS replays."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            one()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        one()

    def replay() -> None:
        for _ in range(DECODE_STEPS):
            graph.replay()

    return replay


def profile_call(fn: Callable[[], None], device, *, steps: int) -> dict:
    """torch.profiler over one call of `fn` (after one untimed call): device busy time against wall
    time, kernel launches per step, and the top operators by device (or CPU) time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    on_device = lambda e: device.type != "cuda" or str(getattr(e, "device_type", "")).endswith("CUDA")  # noqa: E731
    busy_us = sum(getattr(e, attr, 0.0) or 0.0 for e in events if on_device(e))
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
    return {
        "wall_s_profiled": wall,
        "device_busy_s": busy_us / 1e6,
        "device_busy_fraction": busy_us / 1e6 / wall if wall else None,
        "kernel_launches_per_step": launches / steps,
        "table": events.table(sort_by=attr, row_limit=14, max_name_column_width=60),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="+", default=[], help="NAME=FOLDER (config.json read, weights random)")
    parser.add_argument("--decode-batches", type=int, nargs="+", default=None, help="default 1 64 (--quick: 1 4)")
    parser.add_argument("--no-graphs", action="store_true", help="skip the CUDA-graph decode rows")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    global DECODE_STEPS
    if args.quick:
        DECODE_STEPS = 4
    device = torch.device(args.device)
    dtype = torch.bfloat16
    timer = Timer(device, quick=args.quick)
    batches = args.decode_batches or ([1, 4] if args.quick else [1, 64])
    result: dict = {"device": args.device, "torch": torch.__version__, "stages": []}
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        result["device_name"] = name
        result["nominal"] = next((v for k, v in NOMINAL.items() if k in name), None)
        props = torch.cuda.get_device_properties(device)
        result["memory_gib"] = round(props.total_memory / 2**30, 1)
        result["multiprocessors"] = props.multi_processor_count

    def save() -> None:
        if args.json_out:
            args.json_out.write_text(json.dumps(result, indent=1))

    result["bf16_matmul_tflops"] = matmul_probe(device, timer, 256 if args.quick else 8192)
    result["copy_gbps"] = copy_probe(device, timer, (16 if args.quick else 2048) * 2**20)
    print(f"probes on {result.get('device_name', args.device)}: bf16 matmul {result['bf16_matmul_tflops']:.2f} TFLOP/s, "
          f"copy {result['copy_gbps']:.1f} GB/s", flush=True)
    save()
    peak_tflops, bandwidth = result["bf16_matmul_tflops"], result["copy_gbps"]
    nominal = result.get("nominal") or {}

    def add(row: dict) -> None:
        result["stages"].append(row)
        frac = row.get("fraction_of_probe")
        extra = f", {row['fraction_of_nominal']:.0%} of nominal" if row.get("fraction_of_nominal") is not None else ""
        print(f"{row['model']:<16}{row['stage']:<34}{row['seconds'] * 1e3:>10.3f} ms  {row['achieved']:>10.2f} "
              f"{row['unit']:<8}{frac:>6.1%} of probe{extra}", flush=True)
        save()

    def profile(kind: str, label: str, fn: Callable[[], None], steps: int, batch: int | None = None) -> None:
        if args.no_profile:
            return
        try:
            p = {"model": label, "stage": kind, "batch": batch, **profile_call(fn, device, steps=steps)}
        except Exception as err:  # noqa: BLE001 - a profile is an extra; the timed rows stand
            p = {"model": label, "stage": kind, "error": f"{type(err).__name__}: {err}"[:300]}
        result.setdefault("profiles", []).append(p)
        if "error" in p:
            print(f"profile of {label} {kind} failed: {p['error']}", flush=True)
        else:
            print(f"profile ({label}, {kind}): device busy {p['device_busy_fraction']:.0%} of wall, "
                  f"{p['kernel_launches_per_step']:.0f} kernel launches per call\n{p['table']}", flush=True)
        save()

    loaded = []
    for spec in args.models:
        label, folder = spec.split("=", 1)
        start = time.perf_counter()
        model = load_random(folder, device, dtype)
        print(f"{label}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
              f"initialised in {time.perf_counter() - start:.1f} s", flush=True)
        loaded.append((label, model))
        with torch.inference_mode():
            call, what = vision_call(model, device, dtype, quick=args.quick)
            flops = flops_of(call)
            took = timer(call, reps=5, warmup=2)
            tflops = flops / took / 1e12
            add({"model": label, "stage": f"vision tower, {what}", "seconds": took, "flops": flops, "achieved": tflops,
                 "unit": "TFLOP/s", "fraction_of_probe": tflops / peak_tflops,
                 "fraction_of_nominal": tflops / nominal["bf16_tflops"] if nominal else None})
            profile(f"vision tower, {what}", label, call, steps=1)
            for batch in batches:
                many, one, nbytes = decode_setup(model, batch=batch, device=device, dtype=dtype)
                step = timer(many, reps=5, warmup=1) / DECODE_STEPS
                gbps = nbytes / step / 1e9
                add({"model": label, "stage": f"decode, batch {batch}, eager", "batch": batch, "graph": False,
                     "seconds": step, "bytes": nbytes, "achieved": gbps, "unit": "GB/s",
                     "fraction_of_probe": gbps / bandwidth,
                     "fraction_of_nominal": gbps / nominal["hbm_gbps"] if nominal else None})
                if batch == max(batches):
                    profile(f"decode, batch {batch}, eager", label, many, steps=DECODE_STEPS, batch=batch)
                del many, one
    # CUDA graphs last: a failed capture must not cost the eager figures above.
    if device.type == "cuda" and not args.no_graphs:
        for label, model in loaded:
            for batch in batches:
                try:
                    with torch.inference_mode():
                        many, one, nbytes = decode_setup(model, batch=batch, device=device, dtype=dtype)
                        replay = graph_step(one)
                        step = timer(replay, reps=5, warmup=1) / DECODE_STEPS
                    gbps = nbytes / step / 1e9
                    add({"model": label, "stage": f"decode, batch {batch}, CUDA graph", "batch": batch,
                         "graph": True, "seconds": step, "bytes": nbytes, "achieved": gbps, "unit": "GB/s",
                         "fraction_of_probe": gbps / bandwidth,
                         "fraction_of_nominal": gbps / nominal["hbm_gbps"] if nominal else None})
                except Exception as err:  # noqa: BLE001 - recorded; the eager rows stand
                    result.setdefault("graph_errors", []).append(f"{label} batch {batch}: {type(err).__name__}: {err}"[:400])
                    print(f"CUDA graph capture failed: {result['graph_errors'][-1]}", flush=True)
                    save()
                    break  # the other batch size would fail the same way
    save()

if __name__ == "__main__":
    main()
