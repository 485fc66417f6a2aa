"""Smoke test of the environment: versions, the device, and one short generation through the engine.

    python bench/gpu/smoke.py [--device cuda] [--json-out FILE]

bench/gpu/check.sh runs this right after installing the carried wheels: if it fails with the
carried transformers stack, check.sh retries with the machine's own transformers. It
records what the results need to name the machine (GPU, driver, CUDA, library versions),
builds the tests' tiny SmolVLM2 checkpoint, loads it on `--device` with the engine's
default dtype (bfloat16 on a GPU) and generates 4 tokens for one photo. Exit code 0 only if
all of that worked.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - a missing or broken package is a finding
        return f"unavailable ({type(err).__name__}: {err})"[:200]
    return f"{getattr(module, '__version__', '?')} ({Path(getattr(module, '__file__', '') or '?').parent})"


def nvidia_smi() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    query = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu"
    done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True, text=True,
                          check=False, timeout=30)
    return (done.stdout or done.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    info: dict = {"python": sys.version.split()[0], "platform": platform.platform(), "device": args.device}
    start = time.perf_counter()
    import torch

    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["device_name"] = props.name
        info["device_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["capability"] = f"{props.major}.{props.minor}"
        info["multiprocessors"] = props.multi_processor_count
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    info["nvidia_smi"] = nvidia_smi()
    for name in ("transformers", "huggingface_hub", "tokenizers", "safetensors", "accelerate", "decord", "num2words",
                 "pyarrow", "typer", "rich", "PIL", "numpy", "vlmcli"):
        info[name] = version(name)
    info["cpus"] = __import__("os").cpu_count()
    ok = False
    try:
        from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
        from vlmcli.testing import build_tiny_checkpoint, sample_photos

        with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
            folder = build_tiny_checkpoint("smolvlm", Path(tmp) / "smolvlm")
            engine = Engine.load(EngineConfig(model=str(folder), device=args.device))
            result = engine.generate([Request(prompt="What is this?", images=(ImageInput(sample_photos()[0]),))],
                                     GenerationConfig(max_tokens=4, ignore_eos=True))[0]
            info["engine_device"] = str(engine.adapter.model.device)
            info["engine_dtype"] = str(engine.adapter.model.dtype)
            info["generated_tokens"] = len(result.token_ids)
            ok = len(result.token_ids) == 4 and (args.device == "auto" or info["engine_device"].startswith(args.device))
    except Exception as err:  # noqa: BLE001 - reported, exit code 1
        import traceback

        traceback.print_exc()
        info["error"] = f"{type(err).__name__}: {err}"[:500]
    info["ok"] = ok
    info["seconds"] = round(time.perf_counter() - start, 1)
    for key, value in info.items():
        print(f"{key}: {value}")
    if args.json_out:
        args.json_out.write_text(json.dumps(info, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
