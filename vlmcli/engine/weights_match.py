"""Whether the weights a folder holds are the weights its model needs, checked as it loads.

transformers loads a checkpoint whose tensor names do not match the model anyway: the
model's weights it did not find are initialised at random ("missing"), the file's tensors
it has no place for are dropped ("unexpected"), and it logs a ~70-line LOAD REPORT table on
stderr. A folder an MLX conversion re-keyed (`vision_tower.*`, `language_model.model.*`) or
one saved without `lm_head.weight` then answered gibberish with exit 0. Tensors whose shape
differs from what config.json makes them (embeddings resized, `vocab_size` set back) failed
as "unexpected RuntimeError". Now each is one `ModelError` line (exit 4): how many weights,
a few names, and what the folder most likely is. The table is not printed.

`from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)` gives the
three sets after transformers' own exceptions (tied weights, non-persistent buffers, its
ignore patterns) are taken out, so every supported family's own checkpoint has none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmcli.engine.safetensors_header import file_format
from vlmcli.errors import ModelError

_REPORTING_LOGGER = "transformers.modeling_utils"


class _NoLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)


@contextmanager
def quiet_load_report() -> Iterator[None]:
    """Keep transformers' LOAD REPORT table off stderr while loading (vlmcli says it in one line)."""
    logger, quiet = logging.getLogger(_REPORTING_LOGGER), _NoLoadReport()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def check_loaded_weights(model_id: str, folder: Path, info: dict[str, Any]) -> None:
    """Refuse a load that left weights random (missing), dropped the file's (unexpected) or
    found other shapes (mismatched); `info` is `from_pretrained`'s loading info."""
    missing, unexpected = sorted(info.get("missing_keys") or ()), sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or ())
    if mismatched:
        raise ModelError(_mismatch(model_id, mismatched))
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"{_count(missing)} of the model's {'is' if len(missing) == 1 else 'are'} not in the files ({_some(missing)})")
    if unexpected:
        parts.append(f"{_count(unexpected)} in the files {'is' if len(unexpected) == 1 else 'are'} not the model's ({_some(unexpected)})")
    raise ModelError(
        f"{model_id}'s weights do not match its config.json: {' and '.join(parts)}, so it would run on random "
        f"weights; {_likely_cause(folder, missing, unexpected)}."
    )


def _count(names: list[str]) -> str:
    return f"{len(names)} weight{'s' if len(names) > 1 else ''}"


def _some(names: list[str], most: int = 2) -> str:
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def _likely_cause(folder: Path, missing: list[str], unexpected: list[str]) -> str:
    formats = {file_format(p) for p in folder.glob("*.safetensors")}
    if "mlx" in formats:
        return (
            "its safetensors say format 'mlx': an MLX conversion (mlx-vlm) renames weights for Apple's MLX, which "
            "vlmcli does not run; pass the Hugging Face model it was converted from"
        )
    if missing == ["lm_head.weight"] and not unexpected:
        return (
            "it was saved without its output layer (lm_head.weight) although config.json's tie_word_embeddings is "
            "not true; save it again from the trained model (or, only if it was trained with tied embeddings, set "
            "tie_word_embeddings to true in config.json)"
        )
    return (
        "the weights were renamed by the tool that wrote them, or belong to another architecture than config.json "
        "names; pass a folder written by transformers' save_pretrained"
    )


def _mismatch(model_id: str, mismatched: list[tuple[str, Any, Any]]) -> str:
    """The line for tensors whose shapes differ from config.json's; resized embeddings said as such."""
    name, saved, made = next((m for m in mismatched if "embed" in m[0]), mismatched[0])
    saved, made = tuple(saved), tuple(made)
    if "embed" in name and len(saved) == 2 and saved[1:] == made[1:]:
        return (
            f"{model_id}'s embeddings ({name}) have {saved[0]} rows but config.json's vocab_size makes {made[0]}: "
            f"they were resized (resize_token_embeddings) and config.json says otherwise; set vocab_size to "
            f"{saved[0]} in config.json (text_config's, where it has one)."
        )
    shown = ", ".join(f"{n} {tuple(s)} in the file, {tuple(m)} by config.json" for n, s, m in mismatched[:2])
    return (
        f"{model_id}'s weights do not fit its config.json: {_count([n for n, _, _ in mismatched])} have other "
        f"shapes ({shown}{', ...' if len(mismatched) > 2 else ''}); the config.json belongs to another model: "
        "copy the one saved with these weights."
    )
