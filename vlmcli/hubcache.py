"""Which models are already in the local Hugging Face hub cache, and what they are.

Walks the cache layout directly (`models--org--name/snapshots/<commit>/config.json`)
instead of importing huggingface_hub: it is a read-only scan of plain files, and stays
fast and testable with a temporary folder. The cache folder follows huggingface_hub's
rules: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
~/.cache/huggingface/hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmcli.errors import ModelError
from vlmcli.families import family_for_model_type

_SAFE = (".safetensors",)
_PICKLED = (".bin", ".pt", ".pth")


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    revision: str
    """Commit of the snapshot described (the one `main` points to, else the newest)."""
    path: Path
    model_type: str | None
    """`model_type` from config.json; None when it is missing or unreadable."""
    family: str | None
    """The vlmcli family that runs it, or None when vlmcli does not support it."""
    weights: str
    """"safetensors", "pickle" (needs --allow-pickle) or "none" (not downloaded)."""
    size_bytes: int
    problem: str | None = None
    """Why the snapshot would not load, found from its files (`snapshot_problem`); None: none found."""
    quantization: str | None = None
    """How its weights were saved quantized ("gptq 4-bit", from config.json); None: unquantized."""

    @property
    def runnable(self) -> bool:
        return self.family is not None and self.weights != "none" and self.problem is None

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.repo_id,
            "revision": self.revision,
            "path": str(self.path),
            "model_type": self.model_type,
            "family": self.family,
            "weights": self.weights,
            "size_bytes": self.size_bytes,
            "problem": self.problem,
            "quantization": self.quantization,
        }


def hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(env[name]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    cache_home = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache_home / "huggingface" / "hub"


def scan(cache_dir: Path | None = None) -> list[CachedModel]:
    """Every model repo in the cache with at least one snapshot, sorted by id."""
    root = hub_cache_dir() if cache_dir is None else cache_dir
    try:
        names = os.listdir(root)
    except PermissionError:  # a glob of an unreadable folder finds nothing: it read as "none cached"
        raise ModelError(
            f"The hub cache {root} cannot be read: permission denied; give your user read access to it, "
            "or name another with --cache-dir."
        ) from None
    except OSError:
        return []
    found = []
    for repo_dir in sorted(root / name for name in names if name.startswith("models--")):
        main = _main_ref(repo_dir)
        try:
            snapshot = _pick_snapshot(repo_dir, main)
        except PermissionError as err:  # listed as a model that would not load, not "unexpected PermissionError"
            found.append(_unreadable(repo_dir, Path(err.filename or repo_dir), main))
            continue
        if snapshot is not None:
            found.append(_describe(repo_dir, snapshot, main))
    return sorted(found, key=lambda model: model.repo_id.lower())


def _repo_id(repo_dir: Path) -> str:
    return repo_dir.name[len("models--") :].replace("--", "/")


def _unreadable(repo_dir: Path, path: Path, main: str) -> CachedModel:
    """A cache entry whose snapshots cannot be listed: shown with --all, its problem said."""
    return CachedModel(
        repo_id=_repo_id(repo_dir), revision=main, path=repo_dir, model_type=None, family=None, weights="none",
        size_bytes=0, problem=f"permission denied: {_inside(path, repo_dir)}",
    )


def _inside(path: Path, folder: Path) -> str:
    """`path` relative to `folder` ("the folder" for itself), for a short problem column."""
    try:
        return str(path.relative_to(folder)) if path != folder else "the folder"
    except ValueError:
        return str(path)


def _main_ref(repo_dir: Path) -> str:
    """The commit `refs/main` names ("" when there is none)."""
    try:
        return (repo_dir / "refs" / "main").read_text().strip()
    except OSError:
        return ""


def _pick_snapshot(repo_dir: Path, main: str) -> Path | None:
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    if main and (snapshots / main).is_dir():
        return snapshots / main
    candidates = [p for p in snapshots.iterdir() if p.is_dir()]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def _describe(repo_dir: Path, snapshot: Path, main: str) -> CachedModel:
    from vlmcli.engine.quantized import describe, quantization_problem
    from vlmcli.engine.training_files import is_training_state

    repo_id = _repo_id(repo_dir)
    config = _config(snapshot / "config.json")
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    info = family_for_model_type(model_type) if model_type else None
    # the top level only, as transformers reads it; a Trainer's state files are not weights
    try:
        names = [p.name for p in snapshot.iterdir() if p.is_file() and not is_training_state(p.name)]
    except OSError:  # an unreadable snapshot: `snapshot_problem` says so
        names = []
    if any(n.endswith(_SAFE) for n in names):
        weights = "safetensors"
    elif any(n.endswith(_PICKLED) for n in names):
        weights = "pickle"
    else:
        weights = "none"
    return CachedModel(
        repo_id=repo_id,
        revision=snapshot.name,
        path=snapshot,
        model_type=model_type,
        family=info.name if info else None,
        weights=weights,
        size_bytes=_size(snapshot),
        problem=snapshot_problem(snapshot, main=main, chat_template=info is not None and info.chat_template)
        or quantization_problem(config),
        quantization=describe(config),
    )


def snapshot_problem(snapshot: Path, *, main: str, chat_template: bool) -> str | None:
    """What would stop `snapshot` from loading, told by its files alone (no weights read but
    the safetensors headers): `refs/main` (`main`) naming a snapshot that is gone, links to
    deleted blobs, weights cut short, no processor files, no chat template."""
    from vlmcli.engine.chat_template import has_chat_template
    from vlmcli.engine.lora_folder import adapter_base, only_an_adapter
    from vlmcli.engine.readable import blocked
    from vlmcli.engine.source import PROCESSOR_FILES
    from vlmcli.engine.weights_files import dangling, truncated

    if main and main != snapshot.name:
        return f"refs/main names snapshot {main[:12]}, which is not in the cache (--revision {snapshot.name[:12]} runs this one)"
    if gone := dangling(snapshot):
        return f"blobs gone: {', '.join(gone)}"
    if (found := blocked(snapshot)) is not None:  # before reading any file: an unreadable one crashed the listing
        path, why = found
        return f"{why}: {_inside(path, snapshot)}"
    if short := truncated(snapshot):
        return f"weights damaged: {', '.join(short)}"
    if only_an_adapter(snapshot):
        return f"a PEFT/LoRA adapter of {adapter_base(snapshot)}, not a whole model"
    if not any((snapshot / name).is_file() for name in PROCESSOR_FILES):
        return "no processor or tokenizer files"
    if chat_template and not has_chat_template(snapshot):
        return "no chat template"
    return None


def _config(config_json: Path) -> dict:
    """config.json as a dict ({} when it is missing or unreadable)."""
    try:
        if not config_json.is_file():  # a FIFO would block the listing: `snapshot_problem` names it
            return {}
        value = json.loads(config_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def hub_below(root: Path) -> Path | None:
    """`root/hub` when `root` holds no cached model but its hub/ does: the Hugging Face home
    (HF_HOME, ~/.cache/huggingface) given where its hub cache was meant."""
    hub = root / "hub"
    try:
        if any(root.glob("models--*")) or not any(hub.glob("models--*")):
            return None
    except OSError:  # an unreadable root (Python 3.11's glob raises PermissionError): `scan` says so
        return None
    return hub


def _size(snapshot: Path) -> int:
    """Bytes of the files in the snapshot (symlinks into blobs/ followed, each blob once)."""
    seen, total = set(), 0
    for path in snapshot.rglob("*"):
        try:
            real = path.resolve()
            if real in seen or not real.is_file():
                continue
            seen.add(real)
            total += real.stat().st_size
        except OSError:
            continue
    return total
