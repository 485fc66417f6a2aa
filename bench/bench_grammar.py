"""Grammar engines as a token mask: time per decode step, compile time and schema features.

    python bench/bench_grammar.py [--engines xgrammar,llguidance,outlines-core,lm-format-enforcer]
                                  [--vocabs 49152,151643] [--cache /tmp/grammar-bench] [--step-ms-1 X --step-ms-8 Y]

Candidates for `vlmcli[structured]` (issue 18), measured on this CPU with byte-level BPE
tokenizers trained offline (`tokenizers`) to SmolVLM2's vocabulary size (49,152 + specials)
and Qwen2-VL's (151,643 + specials), on text of the installed Python packages (so the merges
are real words, digits, punctuation and code, not fillers).

For each engine, tokenizer and constraint (a nested JSON schema with an enum, a choice among
20 tags, a date regex, any JSON object) the bench walks the tokens of one valid answer and,
at every step, times filling the (B, V) token bitmask for B rows (batch 1 and 8; each row its
own matcher), then advancing every matcher by the token; the last step fills the mask in which
the end of the answer is allowed (end-of-sequence itself is vlmcli's, never fed to a matcher). Reported: the mean fill+advance time
per step in ms (the cost added to each decode step), the compile time of the constraint, and
the one-off tokenizer preparation. With `--step-ms-1/--step-ms-8` (the decode step of SmolVLM2-256M
at that batch, from `bench/bench_structured.py`) the overhead is also given as a fraction.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

SCHEMA = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "maxLength": 40},
        "count": {"type": "integer", "minimum": 0},
        "indoor": {"type": "boolean"},
        "colors": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 4},
        "place": {
            "type": "object",
            "properties": {"kind": {"enum": ["kitchen", "street", "park", "office"]}, "floor": {"type": "integer"}},
            "required": ["kind", "floor"],
        },
    },
    "required": ["subject", "count", "indoor", "colors", "place"],
}
SCHEMA_ANSWER = (
    '{"subject": "a cat sitting on a chair", "count": 3, "indoor": true, '
    '"colors": ["red", "blue"], "place": {"kind": "kitchen", "floor": 2}}'
)
TAGS = (
    "indoor outdoor portrait landscape animal food vehicle building text document "
    "screenshot diagram night sunset water snow people crowd sports art"
).split()
CHOICE_ANSWER = "screenshot"
DATE_REGEX = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATE_ANSWER = "2024-03-17"
JSON_ANSWER = '{"name": "astronaut", "items": [1, 2.5, {"ok": false}], "note": null}'

CONSTRAINTS = {"schema": SCHEMA_ANSWER, "choice": CHOICE_ANSWER, "regex": DATE_ANSWER, "json": JSON_ANSWER}


def _corpus(limit_bytes: int) -> list[str]:
    """Text of the installed packages (.py, .md, .rst, .txt), up to `limit_bytes`."""
    import sysconfig

    root = Path(sysconfig.get_paths()["purelib"])
    texts, total = [], 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".py", ".md", ".rst", ".txt"} or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text)
        if total >= limit_bytes:
            break
    return texts


def build_tokenizer(vocab_size: int, cache: Path) -> Any:
    """A byte-level BPE (GPT-2/Qwen/SmolLM style) of `vocab_size` entries plus SPECIALS, cached."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    path = cache / f"bpe-{vocab_size}.json"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[AddedToken(SPECIALS[0], special=True)],
            show_progress=False,
        )
        tok.train_from_iterator(_corpus(limit_bytes=400_000_000 if vocab_size > 100_000 else 60_000_000), trainer)
        tok.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS[1:]])
        tok.save(str(path))
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )


@dataclass
class Engine:
    """One candidate: prepare(tokenizer) once, compile(kind) per constraint, then a batch runner."""

    name: str
    prepare: Callable[[Any], Any]
    compile: Callable[[Any, str], Any]
    """(prepared, kind) -> compiled constraint; raises NotImplementedError when unsupported."""
    run: Callable[[Any, Any, list[int], int], list[float]]
    """(prepared, compiled, tokens, batch) -> seconds per step (fill + advance for every row)."""


def _choice_regex() -> str:
    import re

    return "(" + "|".join(re.escape(t) for t in TAGS) + ")"


# ---- xgrammar ---------------------------------------------------------------------------------


def _xgr_prepare(tokenizer: Any) -> Any:
    import xgrammar as xgr

    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    return xgr.GrammarCompiler(info, max_threads=2, cache_enabled=False), len(tokenizer)


def _xgr_compile(prepared: Any, kind: str) -> Any:
    compiler, _ = prepared
    if kind == "schema":
        return compiler.compile_json_schema(json.dumps(SCHEMA), any_whitespace=False)
    if kind == "choice":
        return compiler.compile_regex(_choice_regex())
    if kind == "regex":
        return compiler.compile_regex(DATE_REGEX)
    return compiler.compile_builtin_json_grammar()


def _xgr_run(prepared: Any, compiled: Any, tokens: list[int], batch: int) -> list[float]:
    import xgrammar as xgr

    _, vocab = prepared
    matchers = [xgr.GrammarMatcher(compiled) for _ in range(batch)]
    bitmask = xgr.allocate_token_bitmask(batch, vocab)
    many = xgr.BatchGrammarMatcher(max_threads=2) if batch > 1 else None
    times = []
    for token in tokens:
        start = time.perf_counter()
        if many is None:
            matchers[0].fill_next_token_bitmask(bitmask, 0)
        else:
            many.batch_fill_next_token_bitmask(matchers, bitmask)
        for m in matchers:
            assert token is None or m.accept_token(token), "xgrammar rejected the answer"
        times.append(time.perf_counter() - start)
    return times


# ---- llguidance -------------------------------------------------------------------------------


def _llg_prepare(tokenizer: Any) -> Any:
    import llguidance
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=len(tokenizer)), llguidance.LLExecutor(2)


def _llg_compile(prepared: Any, kind: str) -> Any:
    import llguidance

    if kind == "schema":
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            SCHEMA, defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
        )
    elif kind == "choice":
        grammar = llguidance.LLMatcher.grammar_from_regex(_choice_regex())
    elif kind == "regex":
        grammar = llguidance.LLMatcher.grammar_from_regex(DATE_REGEX)
    else:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            {"type": "object"}, defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
        )
    tokenizer, _ = prepared
    llguidance.LLMatcher(tokenizer, grammar)  # compiles (lazily-built lexer) and validates
    return grammar


def _llg_run(prepared: Any, compiled: Any, tokens: list[int], batch: int) -> list[float]:
    import llguidance
    import llguidance.torch as lt

    tokenizer, executor = prepared
    matchers = [llguidance.LLMatcher(tokenizer, compiled) for _ in range(batch)]
    bitmask = lt.allocate_token_bitmask(batch, tokenizer.vocab_size)
    times = []
    for token in tokens:
        start = time.perf_counter()
        if batch == 1:
            lt.fill_next_token_bitmask(matchers[0], bitmask, 0)
        else:
            lt.fill_next_token_bitmask_par(executor, [(m, i) for i, m in enumerate(matchers)], bitmask)
        for m in matchers:
            assert token is None or m.consume_token(token), f"llguidance rejected the answer: {m.get_error()}"
        times.append(time.perf_counter() - start)
    return times


# ---- outlines-core ----------------------------------------------------------------------------


def _oc_prepare(tokenizer: Any) -> Any:
    from outlines_core import Vocabulary

    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    byte_decoder = _byte_decoder()
    table: dict[bytes, list[int]] = {}
    special = set(tokenizer.all_special_ids)
    for token, index in tokenizer.get_vocab().items():
        if index in special:
            continue
        table.setdefault(bytes(byte_decoder[c] for c in token), []).append(index)
    return Vocabulary(eos, table), len(tokenizer)


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the printable character -> the byte it stands for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1), *range(ord("\xae"), ord("\xff") + 1)]
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _oc_compile(prepared: Any, kind: str) -> Any:
    from outlines_core import Index
    from outlines_core.json_schema import build_regex_from_schema

    vocab, _ = prepared
    if kind == "schema":
        regex = build_regex_from_schema(json.dumps(SCHEMA), whitespace_pattern=r"[ ]?")
    elif kind == "choice":
        regex = _choice_regex()
    elif kind == "regex":
        regex = DATE_REGEX
    else:
        raise NotImplementedError("no recursive grammars (regular languages only)")
    return Index(regex, vocab)


def _oc_run(prepared: Any, compiled: Any, tokens: list[int], batch: int) -> list[float]:
    import outlines_core.kernels.torch as k
    from outlines_core import Guide

    _, vocab = prepared
    guides = [Guide(compiled) for _ in range(batch)]
    bitmask = k.allocate_token_bitmask(vocab)
    masks = bitmask.repeat(batch, 1)
    times = []
    for token in tokens:
        start = time.perf_counter()
        for i, g in enumerate(guides):
            k.fill_next_token_bitmask(g, masks[i : i + 1])
        for g in guides:
            if token is not None:
                g.advance(token)
        times.append(time.perf_counter() - start)
    return times


# ---- lm-format-enforcer -----------------------------------------------------------------------


def _lmfe_prepare(tokenizer: Any) -> Any:
    """Its `integrations.transformers` module does not import under transformers 5 (it imports the
    removed `transformers.tokenization_utils`), so its tokenizer data is built here the same way."""
    from lmformatenforcer import TokenEnforcerTokenizerData

    zero = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    regular = []
    for index in range(len(tokenizer)):
        if index in special:
            continue
        after_zero = tokenizer.decode([zero, index])[1:]
        regular.append((index, after_zero, len(after_zero) > len(tokenizer.decode([index]))))
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    data = TokenEnforcerTokenizerData(regular, lambda ids: tokenizer.decode(ids).rstrip("\ufffd"), eos, False, len(tokenizer))
    return data, len(tokenizer)


def _lmfe_compile(prepared: Any, kind: str) -> Any:
    from lmformatenforcer import JsonSchemaParser, RegexParser

    if kind == "schema":
        return lambda: JsonSchemaParser(SCHEMA)
    if kind == "choice":
        return lambda: RegexParser(_choice_regex())
    if kind == "regex":
        return lambda: RegexParser(DATE_REGEX)
    return lambda: JsonSchemaParser(None)


def _lmfe_run(prepared: Any, compiled: Any, tokens: list[int], batch: int) -> list[float]:
    import torch
    from lmformatenforcer import TokenEnforcer

    data, vocab = prepared
    enforcers = [TokenEnforcer(data, compiled()) for _ in range(batch)]
    masks = torch.zeros(batch, vocab, dtype=torch.bool)
    times = []
    for step in range(len(tokens)):
        start = time.perf_counter()
        prefix = tokens[:step]
        for i, e in enumerate(enforcers):
            allowed = e.get_allowed_tokens(prefix)
            allowed = allowed.allowed_tokens if hasattr(allowed, "allowed_tokens") else allowed
            masks[i].zero_()
            masks[i, torch.as_tensor(list(allowed), dtype=torch.long)] = True
            assert tokens[step] is None or masks[i, tokens[step]], "lm-format-enforcer rejected the answer"
        times.append(time.perf_counter() - start)
    return times


FEATURES: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (schema, a valid answer, an invalid answer the mask must refuse)
    "enum": ({"enum": ["cat", "dog"]}, '"cat"', '"cow"'),
    "const": ({"const": "yes"}, '"yes"', '"no"'),
    "integer min/max": ({"type": "integer", "minimum": 1, "maximum": 5}, "3", "7"),
    "number": ({"type": "number"}, "-2.5e3", "2.5.1"),
    "string min/maxLength": ({"type": "string", "minLength": 2, "maxLength": 4}, '"abc"', '"abcdef"'),
    "string pattern": ({"type": "string", "pattern": "^[a-z]+$"}, '"abc"', '"ab1"'),
    "format date": ({"type": "string", "format": "date"}, '"2024-03-17"', '"17 March"'),
    "array min/maxItems": ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}, "[1, 2]", "[1, 2, 3]"),
    "required + nested": (
        {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "boolean"}},
                                                "required": ["b"]}}, "required": ["a"]},
        '{"a": {"b": true}}', '{"a": {}}'),
    "additionalProperties false": (
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
        '{"a": 1}', '{"a": 1, "z": 2}'),
    "anyOf": ({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}, "true", '"x"'),
    "$ref / $defs": ({"$defs": {"p": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/$defs/p"}}, "[1, 2]", '["a"]'),
}


def feature_support(engine: Engine, tokenizer: Any) -> dict[str, str]:
    """Per schema feature: "yes" (compiles, accepts the valid answer, refuses the invalid one),
    "loose" (compiles and accepts both), or why not."""
    global SCHEMA
    prepared = engine.prepare(tokenizer)
    saved, out = SCHEMA, {}
    try:
        for name, (schema, good, bad) in FEATURES.items():
            SCHEMA = schema
            try:
                compiled = engine.compile(prepared, "schema")
                ok = _accepts(engine, prepared, compiled, tokenizer, good)
                refused = not _accepts(engine, prepared, compiled, tokenizer, bad)
                out[name] = "yes" if ok and refused else "loose" if ok else "rejects valid"
            except Exception as err:  # noqa: BLE001 - a missing feature is a result
                out[name] = f"no ({type(err).__name__})"
    finally:
        SCHEMA = saved
    return out


def _accepts(engine: Engine, prepared: Any, compiled: Any, tokenizer: Any, answer: str) -> bool:
    try:
        engine.run(prepared, compiled, [*tokenizer.encode(answer, add_special_tokens=False), None], 1)
        return True
    except (AssertionError, ValueError, RuntimeError):
        return False


ENGINES = {
    "xgrammar": Engine("xgrammar", _xgr_prepare, _xgr_compile, _xgr_run),
    "llguidance": Engine("llguidance", _llg_prepare, _llg_compile, _llg_run),
    "outlines-core": Engine("outlines-core", _oc_prepare, _oc_compile, _oc_run),
    "lm-format-enforcer": Engine("lm-format-enforcer", _lmfe_prepare, _lmfe_compile, _lmfe_run),
}


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def measure(engine: Engine, tokenizer: Any, *, batches: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    start = time.perf_counter()
    try:
        prepared = engine.prepare(tokenizer)
    except Exception as err:  # noqa: BLE001 - a candidate failing is a result
        row = {"engine": engine.name, "vocab": len(tokenizer), "kind": "all", "prepare_s": float("nan"),
               "error": f"prepare: {type(err).__name__}: {str(err)[:120]}"}
        print(json.dumps(row), flush=True)
        return [row]
    prepare_s = time.perf_counter() - start
    for kind, answer in CONSTRAINTS.items():
        tokens = [*tokenizer.encode(answer, add_special_tokens=False), None]  # None: the last mask (end allowed)
        row: dict[str, Any] = {"engine": engine.name, "vocab": len(tokenizer), "kind": kind, "prepare_s": prepare_s}
        try:
            start = time.perf_counter()
            compiled = engine.compile(prepared, kind)
            row["compile_ms"] = (time.perf_counter() - start) * 1e3
            for batch in batches:
                engine.run(prepared, compiled, tokens[:2], batch)  # warm-up
                times = engine.run(prepared, compiled, tokens, batch)
                row[f"b{batch}_ms"] = statistics.mean(times) * 1e3
                row[f"b{batch}_max_ms"] = max(times) * 1e3
        except NotImplementedError as err:
            row["error"] = f"unsupported: {err}"
        except Exception as err:  # noqa: BLE001 - a candidate failing is a result
            row["error"] = f"{type(err).__name__}: {str(err)[:120]}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--vocabs", default="49152,151643")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/grammar-bench"))
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--features", action="store_true", help="only the schema-feature table (49k vocab)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    batches = tuple(int(b) for b in args.batches.split(","))
    if args.features:
        tokenizer = build_tokenizer(49152, args.cache)
        table = {name: feature_support(ENGINES[name], tokenizer) for name in args.engines.split(",")}
        print(f"{'feature':<28}" + "".join(f"{n:>20}" for n in table))
        for feature in FEATURES:
            print(f"{feature:<28}" + "".join(f"{table[n][feature]:>20}" for n in table))
        return
    rows = []
    for size in (int(v) for v in args.vocabs.split(",")):
        tokenizer = build_tokenizer(size, args.cache)
        for name in args.engines.split(","):
            rows.extend(measure(ENGINES[name], tokenizer, batches=batches))
    print("\nversions: " + ", ".join(f"{n} {_version(n)}" for n in ENGINES))
    head = f"{'engine':<20}{'vocab':>8}{'kind':>8}{'prep s':>8}{'compile ms':>12}" + "".join(
        f"{f'b{b} ms/step':>14}" for b in batches
    )
    print(head)
    for r in rows:
        cells = "".join(f"{r.get(f'b{b}_ms', float('nan')):>14.3f}" for b in batches)
        note = f"  {r['error']}" if "error" in r else ""
        print(f"{r['engine']:<20}{r['vocab']:>8}{r['kind']:>8}{r['prepare_s']:>8.2f}{r.get('compile_ms', float('nan')):>12.1f}{cells}{note}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
