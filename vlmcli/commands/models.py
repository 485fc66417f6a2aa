"""`vlm models`: the supported model families and the runnable models already cached."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._table import human_size, table
from vlmcli.errors import ConfigError
from vlmcli.families import DEFAULT_MODEL, FAMILIES, VideoPath
from vlmcli.media.names import display_name


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

        if cache_dir is not None and not _is_dir(cache_dir):  # a typo would read as "no models cached"
            what = "is not a folder" if cache_dir.exists() else "does not exist"
            raise ConfigError(f"--cache-dir {cache_dir} {what}; name the hub cache folder (e.g. ~/.cache/huggingface/hub).")
        root = cache_dir if cache_dir is not None else hubcache.hub_cache_dir()
        if (hub := hubcache.hub_below(root)) is not None:  # HF_HOME given for its hub/: would read as "none cached"
            named = f"--cache-dir {cache_dir}" if cache_dir is not None else f"the hub cache {root} ($HF_HUB_CACHE)"
            raise ConfigError(
                f"{named} is the Hugging Face home (HF_HOME), not its hub cache; the models are in {hub}: "
                f"pass --cache-dir {hub}."
            )
        found = hubcache.scan(root)
        cached = [m for m in found if all_models or m.runnable]
        hidden = 0 if all_models else sum(1 for m in found if m.family is not None and not m.runnable)
        if json_output:
            payload = {
                "default_model": DEFAULT_MODEL,
                "families": [
                    {
                        "family": f.name,
                        "model_types": list(f.model_types),
                        "video": f.video_support,
                        "native_video": f.video is VideoPath.NATIVE,
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
        if hidden:
            sys.stdout.write(f"({hidden} more of a supported family would not load: vlm models --all says why.)\n")


def _is_dir(path: Path) -> bool:
    """Path.is_dir(); True when a folder on the way cannot be searched (Python 3.11 raised
    "unexpected PermissionError"): `hubcache.scan` then says "permission denied", exit 4."""
    try:
        return path.is_dir()
    except PermissionError:
        return True


def _text(root: Path, cached: list, all_models: bool) -> str:
    families = table(
        [(f.name, ", ".join(f.model_types), f.video_support, f.examples[0]) for f in FAMILIES],
        ("FAMILY", "MODEL TYPES", "VIDEO", "EXAMPLE"),
    )
    lines = ["Supported families:", families, "", f"Default model: {DEFAULT_MODEL}", ""]
    title = "Cached models" if all_models else "Cached models you can run"
    lines.append(f"{title} (in {display_name(root)}):")
    if cached:
        rows = [
            (
                display_name(m.repo_id),  # a cache folder's name is any bytes: shown, never obeyed
                m.family or f"unsupported ({m.model_type or '?'})",
                f"{m.weights} ({m.quantization})" if m.quantization else m.weights,
                human_size(m.size_bytes),
            )
            + ((display_name(m.problem or ""),) if all_models else ())
            for m in cached
        ]
        lines.append(table(rows, ("MODEL", "FAMILY", "WEIGHTS", "SIZE") + (("PROBLEM",) if all_models else ())))
    else:
        lines.append("  none yet; the first `vlm ask -m <hub id> ...` downloads one.")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
