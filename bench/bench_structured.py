"""Structured answers (issue 18): validity of constrained generations and the mask's cost per step.

    python bench/bench_structured.py [--model DIR] [--n 100] [--batch 8] [--max-tokens 96] [--walks 100]
                                     [--kinds schema,choice,regex] [--no-utf8-mask]
                                     [--quantize int8] [--max-pixels N] [--label NAME]

(a) Validity in vlmcli's engine, random weights at the real SmolVLM2-256M size (built into a
    temp folder unless --model): `--n` constrained generations per kind (a schema with a nested
    object and an enum, a choice among 20 tags, a date regex), sampled at temperature 1 with a
    different seed per batch, each answer checked independently (json + jsonschema, `in TAGS`,
    `re.fullmatch`). Valid = finish "stop", `result.valid`, and the independent check.
(b) Overhead: the time spent in the mask (`Guard.mask` + `advance` + `complete`) as a fraction of
    the decode time, batch 1 and `--batch`, from the same runs.
(c) Validity at the Qwen2-VL vocabulary: `--walks` walks of `structured.Guard` over random
    (B, 151,936) logits with a byte-level BPE of 151,643 entries trained offline
    (`bench_grammar.build_tokenizer`): sampling from random logits is what random weights do,
    without the 2B-parameter forward pass this CPU cannot afford 100 times.
(e) The UTF-8 mask alone (`--utf8-cost`): building its table (once per vocabulary) and its
    per-row step (the AND into the grammar bitmask, and the state update), at 49,280 (the
    checkpoint's tokenizer as xgrammar decodes it) and 151,936 ids (random byte strings with
    the length distribution of the same vocabulary: the cost depends on V and lengths only).
(a) at the real Qwen2-VL-2B size: `--model DIR` from `vlmcli.testing.build_qwen2_vl_2b_random`
    with `--quantize int8` (float32 decode of 2.2B parameters is too slow on 2 cores) and
    `--max-pixels` (the vision tower's cost; each of the 6 photos is encoded once, then cached).
`--no-utf8-mask` turns off the guard's UTF-8 mask (`structured.utf8_mask`) to measure what it
changes; `--kinds` runs only the named constraint kinds in (a)-(c).
(d) Usefulness on the reference model (`models/reference`, `--reference`): exact-match accuracy
    on `--per-task` held-out questions of each image task, free text (as bench/eval_reference.py)
    against `--choice` over the task's answer vocabulary (`models.world.vocab.answer_space`),
    with the choices stated in the prompt (the default) and without (`--no-schema-prompt`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_grammar import TAGS, build_tokenizer  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "maxLength": 24},
        "count": {"type": "integer", "minimum": 0, "maximum": 99},
        "indoor": {"type": "boolean"},
        "place": {
            "type": "object",
            "properties": {"kind": {"enum": ["kitchen", "street", "park", "office"]}, "floor": {"type": "integer", "minimum": 0, "maximum": 9}},
            "required": ["kind", "floor"],
        },
    },
    "required": ["subject", "count", "indoor", "place"],
}
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


KINDS = ("schema", "choice", "regex")
_kinds = list(KINDS)


def constraints():
    from vlmcli.structured import ChoiceConstraint, RegexConstraint, SchemaConstraint

    every = {"schema": SchemaConstraint(json.dumps(SCHEMA)), "choice": ChoiceConstraint(tuple(TAGS)), "regex": RegexConstraint(DATE)}
    return {kind: every[kind] for kind in _kinds}


def independently_valid(kind: str, text: str) -> bool:
    if kind == "schema":
        import jsonschema

        try:
            jsonschema.validate(json.loads(text), SCHEMA)
        except (ValueError, jsonschema.ValidationError):
            return False
        return True
    if kind == "choice":
        return text in TAGS
    return re.fullmatch(DATE, text) is not None


class MaskClock:
    """Wraps the Guard's per-step methods to add up the time the mask takes."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        from vlmcli.structured.guard import Guard

        for name in ("mask", "advance", "complete"):
            original = getattr(Guard, name)

            def timed(self_, *args, _original=original, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(self_, *args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start

            setattr(Guard, name, timed)


def engine_runs(args, clock: MaskClock) -> None:
    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.testing import build_smolvlm_256m_random, sample_photos
    from vlmcli.tiling import ResolutionPolicy

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or build_smolvlm_256m_random(Path(tmp) / "smolvlm-256m")
        resolution = ResolutionPolicy(max_tiles=1) if args.max_pixels is None else ResolutionPolicy(max_pixels=args.max_pixels)
        engine = Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32", quantize=args.quantize,
                                          resolution=resolution))
        photos = [ImageInput(p) for p in sample_photos()]
        print(f"(a) validity, {args.label} (random weights), {args.n} sampled generations per kind, "
              f"batch {args.batch}, max_tokens {args.max_tokens}, quantize {args.quantize}")
        print(f"{'kind':<8}{'valid':>8}{'stop':>6}{'length':>8}{'false valid':>13}{'mean tokens':>13}")
        overhead: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
        for kind, constraint in constraints().items():
            valid = stops = lengths = false_valid = 0
            tokens = []
            for first in range(0, args.n, args.batch):
                size = min(args.batch, args.n - first)
                requests = [Request(prompt="Describe the picture.", images=(photos[(first + i) % len(photos)],),
                                    constraint=constraint) for i in range(size)]
                gen = GenerationConfig(max_tokens=args.max_tokens, temperature=1.0, seed=first)
                clock.seconds = 0.0
                results = engine.generate(requests, gen)
                decode = results[0].timings.decode_s
                steps = max(len(r.token_ids) for r in results)
                overhead[size].append((clock.seconds, decode, steps))
                for r in results:
                    stops += r.finish_reason.value == "stop"
                    lengths += r.finish_reason.value == "length"
                    valid += bool(r.valid) and independently_valid(kind, r.text)
                    false_valid += bool(r.valid) and not independently_valid(kind, r.text)
                    tokens.append(len(r.token_ids))
            print(f"{kind:<8}{valid:>5}/{args.n:<3}{stops:>5}{lengths:>8}{false_valid:>13}{statistics.mean(tokens):>13.1f}")
        # batch 1: a few single requests of each kind
        for kind, constraint in constraints().items():
            for i in range(args.single):
                request = Request(prompt="Describe the picture.", images=(photos[i % len(photos)],), constraint=constraint)
                clock.seconds = 0.0
                (r,) = engine.generate([request], GenerationConfig(max_tokens=args.max_tokens, temperature=1.0, seed=i))
                overhead[1].append((clock.seconds, r.timings.decode_s, len(r.token_ids)))
        print(f"\n(b) mask overhead per decode step, {args.label}, CPU, quantize {args.quantize}")
        print(f"{'batch':>6}{'runs':>6}{'mask ms/step':>14}{'decode ms/step':>16}{'fraction':>10}")
        for size in sorted(overhead):
            runs = overhead[size]
            mask = sum(m for m, _, _ in runs) / sum(s for _, _, s in runs) * 1e3
            step = sum(d for _, d, _ in runs) / sum(s for _, _, s in runs) * 1e3
            print(f"{size:>6}{len(runs):>6}{mask:>14.3f}{step:>16.1f}{mask / step:>10.1%}")


def vocab_walks(args) -> None:
    import torch

    from vlmcli.structured.guard import Guard
    from vlmcli.structured.verdict import judge

    tokenizer = build_tokenizer(151643, args.cache)
    vocab = 151936  # Qwen2-VL's embedding rows (the tokenizer has 151,646 ids)
    eos = frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")})
    print(f"\n(c) validity at the Qwen2-VL vocabulary ({vocab} logits, {len(tokenizer)}-id tokenizer), "
          f"{args.walks} random-logit walks per kind, batch {args.batch}")
    generator = torch.Generator().manual_seed(0)
    for kind, constraint in constraints().items():
        valid = 0
        for first in range(0, args.walks, args.batch):
            size = min(args.batch, args.walks - first)
            guard = Guard([constraint] * size, tokenizer=tokenizer, vocab_size=vocab, eos=eos)
            ids: list[list[int]] = [[] for _ in range(size)]
            done = [False] * size
            for _ in range(args.max_tokens):
                logits = torch.randn(size, vocab, generator=generator) * 3  # (B, V)
                guard.mask(logits)
                picks = torch.multinomial(logits.softmax(-1), 1, generator=generator).flatten().tolist()
                for row, token in enumerate(picks):
                    if done[row]:
                        continue
                    if token in eos:
                        done[row] = True
                    else:
                        guard.advance(row, token)
                        ids[row].append(token)
                        done[row] = guard.complete(row)
                    if done[row]:
                        guard.stop(row)
                if all(done):
                    break
            for row in range(size):
                text = tokenizer.decode(ids[row])
                ok = done[row] and judge(constraint, text, complete=True).valid
                valid += ok and independently_valid(kind, text)
        print(f"{kind:<8}{valid:>5}/{args.walks}")


def utf8_cost(args) -> None:
    import random

    import torch
    from transformers import AutoTokenizer

    from vlmcli.structured.backend import backend
    from vlmcli.structured.utf8_mask import COMPLETE, REJECT, Utf8Table

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    start = time.perf_counter()
    smol = backend().token_bytes(tokenizer=tokenizer, vocab_size=len(tokenizer), eos=[tokenizer.eos_token_id])
    decode_s = time.perf_counter() - start
    rng = random.Random(0)
    wide = [bytes(rng.randrange(256) for _ in range(len(rng.choice(smol)))) for _ in range(151936)]
    print(f"\n(e) UTF-8 mask cost (xgrammar's decoded vocabulary of {len(smol)} ids: {decode_s:.2f} s, once)")
    print(f"{'vocab':>8}{'build s':>9}{'AND+state us/row/step':>24}")
    for vocab, token_bytes in ((len(smol), smol), (151936, wide)):
        start = time.perf_counter()
        table = Utf8Table.build(token_bytes, vocab_size=vocab, ends=[0])
        bits = torch.from_numpy(table.packed())  # (S, W)
        build = time.perf_counter() - start
        bitmask = torch.full((1, bits.shape[1]), -1, dtype=torch.int32)  # (1, W)
        steps, state = 2000, COMPLETE
        start = time.perf_counter()
        for step in range(steps):
            both = bitmask[0] & bits[state]
            if both.any():
                bitmask[0] = both
            state = table.advance(state, step % 128)
            state = COMPLETE if state == REJECT else state  # the guard never lets a row reach it
        per_step = (time.perf_counter() - start) / steps * 1e6
        print(f"{vocab:>8}{build:>9.2f}{per_step:>24.1f}")


def usefulness(args) -> None:
    from models.world.evaluate import exact_match
    from models.world.tasks import IMAGE_TASK_NAMES, Split, suite
    from models.world.vocab import answer_space
    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.structured import ChoiceConstraint, with_instruction

    engine = Engine.load(EngineConfig(model=str(args.reference), device="cpu", dtype="float32"))
    examples = [e for e in suite(split=Split.HELDOUT, per_task=args.per_task, seed=0) if e.task in IMAGE_TASK_NAMES]
    modes = {"free text": None, "--choice": True, "--choice --no-schema-prompt": False}
    print(f"\n(d) usefulness, {args.reference}, {args.per_task} held-out questions per image task, greedy, exact match")
    scores: dict[str, dict[str, list[bool]]] = {m: defaultdict(list) for m in modes}
    for mode, state in modes.items():
        requests = []
        for e in examples:
            choice = None if state is None else ChoiceConstraint(answer_space(e.task))
            prompt = e.question if choice is None else with_instruction(e.question, choice, state=state)
            requests.append(Request(prompt=prompt, images=(ImageInput(e.image, source=e.task),), constraint=choice))
        for lo in range(0, len(requests), 16):
            outs = engine.generate(requests[lo : lo + 16], GenerationConfig(max_tokens=4))
            for e, out in zip(examples[lo : lo + 16], outs):
                scores[mode][e.task].append(exact_match(out.text, e.answer))
    tasks = sorted({e.task for e in examples})
    print("| mode | " + " | ".join(tasks) + " | all |")
    print("|---|" + "---:|" * (len(tasks) + 1))
    for mode in modes:
        cells = [f"{100 * statistics.mean(scores[mode][t]):.1f}" for t in tasks]
        every = [hit for t in tasks for hit in scores[mode][t]]
        print(f"| {mode} | " + " | ".join(cells) + f" | {100 * statistics.mean(every):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--single", type=int, default=4, help="batch-1 runs per kind for the overhead row")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--walks", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/grammar-bench"))
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-walks", action="store_true")
    parser.add_argument("--reference", type=Path, default=None, help="models/reference: run (d) only")
    parser.add_argument("--per-task", type=int, default=40)
    parser.add_argument("--kinds", default=",".join(KINDS), help="constraint kinds for (a)-(c), comma-separated")
    parser.add_argument("--no-utf8-mask", action="store_true", help="turn the guard's UTF-8 mask off (for comparison)")
    parser.add_argument("--quantize", default="none", choices=["none", "int8"])
    parser.add_argument("--max-pixels", type=int, default=None, help="image pixel cap (default: one tile)")
    parser.add_argument("--label", default="SmolVLM2-256M size", help="the checkpoint's name in the printout")
    parser.add_argument("--utf8-cost", action="store_true", help="(e) only: the UTF-8 mask's build and step cost (--model)")
    args = parser.parse_args()
    _kinds[:] = [k for k in args.kinds.split(",") if k]
    if set(_kinds) - set(KINDS):
        parser.error(f"--kinds: unknown {sorted(set(_kinds) - set(KINDS))}; expected some of {KINDS}")
    if args.no_utf8_mask:
        from vlmcli.structured.guard import Guard

        Guard._keep_utf8 = lambda self, row: None  # type: ignore[method-assign]

    import torch

    torch.set_num_threads(2)
    if args.reference is not None:
        usefulness(args)
        return
    if args.utf8_cost:
        utf8_cost(args)
        return
    clock = MaskClock()
    clock.install()
    if not args.skip_engine:
        engine_runs(args, clock)
    if not args.skip_walks:
        vocab_walks(args)


if __name__ == "__main__":
    main()
