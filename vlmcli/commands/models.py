"""`vlm models`: the supported model families and the runnable models already cached."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._table import human_size, table
from vlmcli.engine.families import DEFAULT_MODEL, FAMILIES, Family, FamilyInfo

_NATIVE_ONLY_FOR = {Family.IDEFICS3: "SmolVLM2"}
"""Families whose native video path belongs to some checkpoints only (SmolVLM2 has a video
processor; Idefics3 and SmolVLM v1 get frames as images)."""


def video_support(info: FamilyInfo) -> str:
    """How the family takes a video, in the words of the README's family table.

    Every family takes videos: the ones without a native video path get the sampled
    frames as images with time markers.
    """
    if not info.video:
        return "frames as images"
    only = _NATIVE_ONLY_FOR.get(info.family)
    return f"native ({only})" if only else "native"


def models(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    all_models: Annotated[
        bool, typer.Option("--all", help="Also list cached repos vlmcli cannot run (unsupported or no weights).")
    ] = False,
    cache_dir: Annotated[
        Optional[Path],
        typer.Option(help="Hub cache folder. [default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub]", show_default=False),
    ] = None,
) -> None:
    """List supported families and cached models.

    Cached models are those in the local hub cache that vlmcli can run (--all: every one).
    """
    with error_boundary():
        from vlmcli import hubcache

        root = cache_dir if cache_dir is not None else hubcache.hub_cache_dir()
        cached = [m for m in hubcache.scan(root) if all_models or m.runnable]
        if json_output:
            payload = {
                "default_model": DEFAULT_MODEL,
                "families": [
                    {
                        "family": f.family.value,
                        "model_types": list(f.model_types),
                        "video": video_support(f),
                        "native_video": f.video,
                        "examples": list(f.examples),
                    }
                    for f in FAMILIES
                ],
                "cache_dir": str(root),
                "cached": [m.to_dict() | {"runnable": m.runnable} for m in cached],
            }
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        sys.stdout.write(_text(root, cached, all_models) + "\n")


def _text(root: Path, cached: list, all_models: bool) -> str:
    families = table(
        [(f.family.value, ", ".join(f.model_types), video_support(f), f.examples[0]) for f in FAMILIES],
        ("FAMILY", "MODEL TYPES", "VIDEO", "EXAMPLE"),
    )
    lines = ["Supported families:", families, "", f"Default model: {DEFAULT_MODEL}", ""]
    title = "Cached models" if all_models else "Cached models you can run"
    lines.append(f"{title} (in {root}):")
    if cached:
        rows = [
            (m.repo_id, m.family or f"unsupported ({m.model_type or '?'})", m.weights, human_size(m.size_bytes))
            for m in cached
        ]
        lines.append(table(rows, ("MODEL", "FAMILY", "WEIGHTS", "SIZE")))
    else:
        lines.append("  none yet; the first `vlm ask -m <hub id> ...` downloads one.")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
