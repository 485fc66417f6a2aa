"""vlmcli (float32 / `--quantize int8`) against llama.cpp (f32 / Q8_0) on the same photos (issue 16).

Builds nothing at import time. Two steps:

    # 1. GGUF files from a vlmcli checkpoint (random SmolVLM2-256M by default), with the
    #    converter of a llama.cpp source tree and its built `llama-quantize`:
    python bench/bench_llamacpp.py prepare --llama DIR --out GGUF_DIR [--model MODEL_DIR]
    # 2. both tools on the same photos, whole processes, side by side:
    python bench/bench_llamacpp.py run --llama DIR --gguf GGUF_DIR --model MODEL_DIR [--photos 2] [--tokens 64]

`--llama DIR` is a llama.cpp source tree with `build/bin/llama-mtmd-cli` and
`build/bin/llama-quantize` built (for example the `vendor/llama.cpp` of the
`llama-cpp-python` sdist on PyPI: `cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF
-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
-DLLAMA_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target
llama-mtmd-cli llama-quantize`, ~15 min on 2 cores).

`prepare` converts a copy of the checkpoint with three workarounds that touch no weight
(shared/notes/llamacpp-side-by-side.md): `text_config.architectures` is added
(`VLlama3ForCausalLM`, as the hub config has it); the converter's pre-tokenizer lookup is
answered with "gpt-2" (what the offline tokenizer is: ByteLevel, GPT-2 regex); one unused
padding token is renamed to "ĊĊ" (llama.cpp asserts a "\\n\\n" token exists). Then the text
model in f32, the projector (`--mmproj`) in f32, and `llama-quantize ... Q8_0`. The
converter imports `sentencepiece` (even for BPE tokenizers) and `gguf` (from the tree's
`gguf-py`): `pip install sentencepiece` (or put it on PYTHONPATH) before `prepare`.

`run` times, per photo and tool, a whole process (start-up included) generating
`--tokens` tokens with EOS ignored, greedy, 2 threads: vision per tile, prefill, decode
ms/token, whole process seconds, peak RSS; then ratios against llama.cpp Q8_0. llama.cpp's
"prompt eval" includes its interleaved vision encodes, so prefill = prompt eval - vision.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Describe this image."

VLMCLI_CHILD = """
import json, sys, time
start = time.perf_counter()
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from PIL import Image
model, photo, tokens, quantize = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
engine = Engine.load(EngineConfig(model=model, device="cpu", dtype="float32", quantize=quantize, feature_cache_entries=0))
request = Request(prompt=%r, images=(ImageInput(Image.open(photo).convert("RGB"), source=photo),))
result = engine.generate([request], GenerationConfig(max_tokens=tokens, ignore_eos=True))[0]
t = result.timings
rows, cols = result.images[0].grid
tiles = rows * cols + (1 if rows * cols > 1 else 0)
print(json.dumps({"vision_s": t.vision_s, "prefill_s": t.prefill_s, "decode_s": t.decode_s,
                  "tokens": len(result.token_ids), "tiles": tiles, "load_s": engine.load_s,
                  "process_s": time.perf_counter() - start}))
""" % PROMPT


# --- prepare ------------------------------------------------------------------------------


def conversion_copy(model: Path, work: Path) -> Path:
    """A copy of the checkpoint with the converter's three workarounds (no weight touched)."""
    copy = work / "for-conversion"
    shutil.copytree(model, copy)
    config = json.loads((copy / "config.json").read_text())
    config.setdefault("text_config", {}).setdefault("architectures", ["VLlama3ForCausalLM"])
    (copy / "config.json").write_text(json.dumps(config, indent=1))
    tokenizer = json.loads((copy / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    if "ĊĊ" not in vocab:
        fillers = [t for t in vocab if re.fullmatch(r"Ġ?tok\d+", t)]  # the offline tokenizer's padding entries
        if not fillers:
            sys.exit("prepare: no unused padding token to rename to 'ĊĊ' (see the module docstring)")
        spare = max(fillers, key=vocab.get)
        vocab["ĊĊ"] = vocab.pop(spare)
        for added in tokenizer.get("added_tokens", []):
            if added["content"] == spare:
                added["content"] = "ĊĊ"
    (copy / "tokenizer.json").write_text(json.dumps(tokenizer))
    return copy


CONVERT_WRAPPER = """
import runpy, sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[1] + "/gguf-py")
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = [sys.argv[1] + "/convert_hf_to_gguf.py"] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def prepare(args: argparse.Namespace) -> None:
    llama, out = Path(args.llama), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="llamacpp-prepare-"))
    model = Path(args.model) if args.model else None
    if model is None:
        from vlmcli.testing import build_smolvlm_256m_random

        model = build_smolvlm_256m_random(out / "vlmcli-model")
        print(f"checkpoint: {model} (SmolVLM2-256M architecture, random weights)")
    copy = conversion_copy(model, work)
    wrapper = work / "convert.py"
    wrapper.write_text(CONVERT_WRAPPER)
    for extra, name in (([], "text-f32.gguf"), (["--mmproj"], "mmproj-f32.gguf")):
        cmd = [sys.executable, str(wrapper), str(llama), str(copy), "--outtype", "f32", "--outfile", str(out / name), *extra]
        subprocess.run(cmd, check=True)
    quantize = llama / "build" / "bin" / "llama-quantize"
    subprocess.run([str(quantize), str(out / "text-f32.gguf"), str(out / "text-q8_0.gguf"), "Q8_0"], check=True)
    print(f"wrote {', '.join(p.name for p in sorted(out.glob('*.gguf')))} to {out}")


# --- run ----------------------------------------------------------------------------------


def timed_process(cmd: list[str]) -> tuple[str, str, float, float]:
    """(stdout, stderr, wall seconds, peak RSS MiB) of one whole child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed:\n{stderr[-3000:]}")
    return stdout, stderr, wall, usage.ru_maxrss / 1024


def run_vlmcli(model: str, photo: Path, tokens: int, quantize: str) -> dict:
    stdout, _, wall, rss = timed_process([sys.executable, "-c", VLMCLI_CHILD, model, str(photo), str(tokens), quantize])
    t = json.loads(stdout.strip().splitlines()[-1])
    return {
        "vision ms/tile": 1000 * t["vision_s"] / t["tiles"],
        "prefill s": t["prefill_s"],
        "decode ms/token": 1000 * t["decode_s"] / max(1, t["tokens"] - 1),
        "whole s": wall,
        "peak RSS MiB": rss,
        "tiles": t["tiles"],
    }


SLICE = re.compile(r"(?:slice encoded in|batch encoding done in) (\d+) ms")  # older / newer mtmd logs
PROMPT_EVAL = re.compile(r"prompt eval time =\s+([\d.]+) ms")
EVAL = re.compile(r"\beval time =\s+([\d.]+) ms /\s+(\d+) runs")


def parse_llama(stderr: str) -> dict:
    slices = [int(ms) for ms in SLICE.findall(stderr)]
    prompt_ms = float(PROMPT_EVAL.findall(stderr)[-1])
    eval_ms, runs = EVAL.findall(stderr)[-1]
    return {
        "vision ms/tile": statistics.fmean(slices) if slices else float("nan"),
        "prefill s": (prompt_ms - sum(slices)) / 1000,
        "decode ms/token": float(eval_ms) / max(1, int(runs)),
        "tiles": len(slices),
    }


def run_llama(llama: Path, text: Path, mmproj: Path, photo: Path, tokens: int) -> dict:
    cli = llama / "build" / "bin" / "llama-mtmd-cli"
    cmd = [str(cli), "-m", str(text), "--mmproj", str(mmproj), "--image", str(photo), "-p", PROMPT,
           "-n", str(tokens), "--ignore-eos", "-t", "2", "--temp", "0", "--seed", "0", "-lv", "4"]
    _, stderr, wall, rss = timed_process(cmd)
    return {**parse_llama(stderr), "whole s": wall, "peak RSS MiB": rss}


def photos(count: int, folder: Path) -> list[Path]:
    from vlmcli.testing import sample_photos

    paths = []
    for i, image in enumerate(sample_photos()[:count]):
        path = folder / f"photo{i}.jpg"
        image.convert("RGB").save(path, quality=95)
        paths.append(path)
    return paths


def run(args: argparse.Namespace) -> None:
    llama, gguf = Path(args.llama), Path(args.gguf)
    folder = Path(tempfile.mkdtemp(prefix="llamacpp-photos-"))
    sides = {
        "vlmcli float32": lambda p: run_vlmcli(args.model, p, args.tokens, "none"),
        "vlmcli int8": lambda p: run_vlmcli(args.model, p, args.tokens, "int8"),
        "llama.cpp f32": lambda p: run_llama(llama, gguf / "text-f32.gguf", gguf / "mmproj-f32.gguf", p, args.tokens),
        "llama.cpp Q8_0": lambda p: run_llama(llama, gguf / "text-q8_0.gguf", gguf / "mmproj-f32.gguf", p, args.tokens),
    }
    stages = ("vision ms/tile", "prefill s", "decode ms/token", "whole s", "peak RSS MiB")
    print(f"model {args.model}; {args.tokens} new tokens (EOS ignored); 2 threads; medians of {args.repeats} runs")
    for photo in photos(args.photos, folder):
        results: dict[str, list[dict]] = {name: [] for name in sides}
        for _ in range(args.repeats):
            for name, side in sides.items():  # interleaved: load hits every side alike
                results[name].append(side(photo))
        medians = {name: {s: statistics.median(r[s] for r in runs) for s in stages} for name, runs in results.items()}
        tiles = {name: runs[0]["tiles"] for name, runs in results.items()}
        print(f"\n{photo.name}: tiles {tiles}")
        print(f"  {'side':<16}" + "".join(f"{s:>17}" for s in stages))
        for name, row in medians.items():
            print(f"  {name:<16}" + "".join(f"{row[s]:>17.2f}" for s in stages))
        base = medians["llama.cpp Q8_0"]
        for name in ("vlmcli float32", "vlmcli int8"):
            ratios = ", ".join(f"{s} {base[s] / medians[name][s]:.2f}x" for s in stages[:4])
            print(f"  llama.cpp Q8_0 / {name} (> 1: vlmcli faster): {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="convert a checkpoint to GGUF (f32 text, f32 projector, Q8_0 text)")
    p.add_argument("--llama", required=True, help="llama.cpp source tree with build/bin")
    p.add_argument("--out", required=True)
    p.add_argument("--model", help="vlmcli checkpoint folder (default: random SmolVLM2-256M built into --out)")
    r = sub.add_parser("run", help="both tools on the same photos")
    r.add_argument("--llama", required=True)
    r.add_argument("--gguf", required=True, help="the folder `prepare` wrote")
    r.add_argument("--model", required=True, help="the checkpoint the GGUF files came from")
    r.add_argument("--photos", type=int, default=2)
    r.add_argument("--tokens", type=int, default=64)
    r.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    prepare(args) if args.step == "prepare" else run(args)


if __name__ == "__main__":
    main()
