"""Find a model's files: a local folder, or a hub id resolved through the hub cache.

A hub id is turned into a local snapshot folder with `huggingface_hub.snapshot_download`
(which uses and fills the normal cache, honouring HF_HOME / HF_HUB_CACHE), so every model
is then loaded from a folder by exactly the same code. Offline (the `offline` switch or
HF_HUB_OFFLINE=1) only the cache is consulted and no connection is attempted.

Only the files a VLM needs are fetched; pickled weights are not fetched unless allowed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from vlmcli.errors import ModelError, ModelNotFoundError, UnsafeModelError

_CONFIG_PATTERNS = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
_SAFE_WEIGHTS = ["*.safetensors"]
_PICKLED_WEIGHTS = ["*.bin", "*.pt", "*.pth"]


@dataclass(frozen=True)
class ModelSource:
    """A model folder on disk and how it was found."""

    folder: Path
    model_id: str
    """What the user asked for (hub id or folder path), for messages and output."""
    revision: str | None
    """The resolved commit for hub models (from the snapshot folder name), else None."""


def env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _a_file(model: str, path: Path) -> str:
    """Why a file is not a model, and what to pass instead."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        magic = b""
    if magic == b"GGUF" or path.suffix.lower() == ".gguf":
        return (
            f"{model} is a GGUF file (llama.cpp's format); vlmcli runs transformers models: pass the "
            "Hugging Face model folder or hub id it was converted from."
        )
    if path.name.endswith((".safetensors", ".json", ".bin")):
        return f"{model} is a file of a model; pass the folder that holds it ({path.resolve().parent})."
    return f"{model} is a file, not a model folder or hub id."


PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json", "tokenizer.json")
"""A model folder holds at least one of these beside its weights (`model.save_pretrained` alone writes none)."""


def _no_folder(repo_id: str) -> str:
    """A sentence for a hub id whose first part is a folder here (`models/reference` typed as
    `models/referense`): the user most likely meant a folder, which does not exist."""
    parent = repo_id.split("/")[0]
    if "/" in repo_id and Path(parent).expanduser().is_dir():
        return f" ({parent}/ is a folder here, but it holds no {repo_id.split('/', 1)[1]}.)"
    return ""


def _hub_url_id(model: str) -> str | None:
    """`org/name` of a model page's address (https://huggingface.co/org/name/tree/main), or None."""
    match = re.match(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/([^/\s]+/[^/\s]+)", model)
    return match[1] if match and not match[1].startswith(("datasets/", "spaces/")) else None


def looks_like_path(model: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else is meant as a path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or (os.sep != "/" and os.sep in model)


def resolve_source(
    model: str, *, revision: str | None, offline: bool, cache_dir: Path | None, allow_pickle: bool
) -> ModelSource:
    """Return the local folder holding `model` (a folder path or a hub id)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(folder=path.resolve(), model_id=model, revision=None)
    if path.exists():
        raise ModelError(_a_file(model, path))
    if (repo := _hub_url_id(model)) is not None:
        raise ModelNotFoundError(f"{model} is a web address; name the model by its hub id: --model {repo}.")
    if looks_like_path(model):
        raise ModelNotFoundError(f"Model folder {model} does not exist.")
    return _from_hub(
        model, revision=revision, offline=offline or env_offline(), cache_dir=cache_dir, allow_pickle=allow_pickle
    )


def _from_hub(
    repo_id: str, *, revision: str | None, offline: bool, cache_dir: Path | None, allow_pickle: bool
) -> ModelSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from vlmcli.engine.hub_http import bound_hub_requests

    patterns = _CONFIG_PATTERNS + _SAFE_WEIGHTS + (_PICKLED_WEIGHTS if allow_pickle else [])
    if not offline:
        bound_hub_requests()  # a stalled network: the cached snapshot after a timeout, not a hang
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_files_only=offline,
            allow_patterns=patterns,
        )
    except HFValidationError:
        raise ModelNotFoundError(
            f"{repo_id!r} is neither an existing folder nor a valid Hugging Face hub id (org/name)."
        ) from None
    except GatedRepoError:
        raise ModelNotFoundError(
            f"Model {repo_id} is gated: accept its licence on huggingface.co and log in (hf auth login)."
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"Model {repo_id} was not found on the Hugging Face hub.{_no_folder(repo_id)}") from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"Model {repo_id} has no revision {revision!r}.") from None
    except LocalEntryNotFoundError:
        cached = _cached_revisions(repo_id, cache_dir)
        if revision is not None and cached:
            raise ModelNotFoundError(
                f"Model {repo_id} is in the local hub cache, but not its revision {revision!r} (cached: "
                f"{', '.join(cached)}){'; offline mode is on' if offline else ' and it could not be downloaded'}."
            ) from None
        if offline:
            raise ModelNotFoundError(
                f"Model {repo_id} is not in the local hub cache and offline mode is on; "
                f"download it once with network access, or pass a local folder with --model.{_no_folder(repo_id)}"
            ) from None
        raise ModelNotFoundError(
            f"Model {repo_id} could not be downloaded (no network?) and is not in the local hub cache; "
            f"pass a local folder with --model.{_no_folder(repo_id)}"
        ) from None
    except OSError as err:  # connection errors and the like surface as OSError subclasses
        raise ModelNotFoundError(
            f"Model {repo_id} could not be fetched from the hub ({type(err).__name__}); "
            "check the network or use --offline with a cached model."
        ) from None
    folder_path = Path(folder)
    return ModelSource(folder=folder_path, model_id=repo_id, revision=folder_path.name)


def _cached_revisions(repo_id: str, cache_dir: Path | None) -> list[str]:
    """The branches/tags (refs) and commits (snapshots) the hub cache holds for `repo_id`."""
    from huggingface_hub import constants

    entry = Path(cache_dir or constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    refs = sorted(p.name for p in (entry / "refs").glob("*") if p.is_file())
    commits = sorted(p.name[:12] for p in (entry / "snapshots").glob("*") if p.is_dir())
    return refs + [c for c in commits if c not in refs]


def _adapter_base(folder: Path) -> str | None:
    """The base model a PEFT adapter folder names ("unknown" if it names none); None if not an adapter."""
    path = folder / "adapter_config.json"
    if not path.is_file():
        return None
    try:
        base = json.loads(path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        base = None
    return str(base) if base else "unknown"


def _inner_models(folder: Path) -> str:
    """A hint naming the model folders inside `folder` (a Trainer's `output_dir` holds
    `checkpoint-500/`, `checkpoint-1000/`; a download may hold the model one level down)."""
    if folder.name.startswith("models--"):  # a hub cache entry: models--org--name (ids never hold "--")
        repo = folder.name.removeprefix("models--").replace("--", "/")
        return f"; it is a hub cache entry: pass its id, --model {repo} (with HF_HUB_CACHE={shlex.quote(str(folder.parent))})"
    try:
        found = [p for p in folder.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    except OSError:
        return ""
    if not found:
        return ""

    def order(path: Path) -> tuple[int, str]:  # checkpoint-1000 after checkpoint-500
        step = path.name.rpartition("-")[2]
        return (int(step) if step.isdigit() else -1, path.name)

    found.sort(key=order)
    names = ", ".join(p.name for p in found[-3:])
    return f"; it holds model folders ({names}{', ...' if len(found) > 3 else ''}): pass one, e.g. {found[-1]}"


def read_model_config(folder: Path) -> dict:
    """The folder's config.json as a dict; a clear error when it is missing or broken."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        adapter = _adapter_base(folder)
        if adapter is not None:
            raise ModelError(
                f"{folder} is a PEFT/LoRA adapter (adapter_config.json, base model {adapter}), not a whole model: "
                "merge it into its base (PeftModel.from_pretrained(base, ADAPTER).merge_and_unload().save_pretrained(OUT), "
                "with the base's processor saved beside it) and pass that folder."
            )
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            raise ModelError(
                f"{folder} holds GGUF files ({ggufs[0].name}{', ...' if len(ggufs) > 1 else ''}: llama.cpp's format) and "
                "no config.json; vlmcli runs transformers models: pass the Hugging Face model folder or hub id they "
                "were converted from."
            )
        raise ModelError(f"{folder} has no config.json, so it is not a transformers model folder{_inner_models(folder)}.")
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{config_path} cannot be read as JSON ({err}).") from None
    if not isinstance(data, dict):
        raise ModelError(f"{config_path} is not a model config (a JSON object); it holds a {type(data).__name__}.")
    return data


def check_weights_safety(folder: Path, *, allow_pickle: bool) -> None:
    """Refuse folders whose only weights are pickled, unless pickle is allowed."""
    safe = any(folder.glob("*.safetensors"))
    pickled = [p.name for pattern in _PICKLED_WEIGHTS for p in folder.glob(pattern)]
    if not safe and pickled and not allow_pickle:
        raise UnsafeModelError(
            f"{folder} has only pickled weights ({', '.join(sorted(pickled)[:3])}), which can run code when "
            "loaded; pass --allow-pickle if you trust this model."
        )
    if not safe and not pickled:
        raise ModelError(f"{folder} has no model weights (*.safetensors).")
