"""Find a model's files: a local folder, or a hub id resolved through the hub cache.

A hub id is turned into a local snapshot folder with `huggingface_hub.snapshot_download`
(which uses and fills the normal cache, honouring HF_HOME / HF_HUB_CACHE), so every model
is then loaded from a folder by exactly the same code. Offline (the `offline` switch or
HF_HUB_OFFLINE=1) only the cache is consulted and no connection is attempted.

Only the files a VLM needs are fetched: the repository's top-level configs, tokenizer and
safetensors weights. huggingface_hub matches patterns with `fnmatch`, whose `*` also matches
`/`, so `*.safetensors` alone would fetch every `checkpoint-500/` a training repo uploaded and
the `original/` or `consolidated.safetensors` copies some repos keep beside the transformers
shards (doubling a Mistral download); those are ignored. Pickled weights are not fetched
unless allowed, and a Trainer's state files never.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from vlmcli.engine.lora_folder import adapter_base, adapter_checkpoints_hint, adapter_message, only_an_adapter
from vlmcli.engine.model_path import a_file, close_folder, file_url, file_url_hint, unreachable
from vlmcli.engine.safetensors_header import holds_tensors
from vlmcli.engine.training_files import STATE_PATTERNS, is_training_state, no_weights_reason
from vlmcli.errors import ModelError, ModelNotFoundError, UnsafeModelError

_CONFIG_PATTERNS = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
_SAFE_WEIGHTS = ["*.safetensors"]
_PICKLED_WEIGHTS = ["*.bin", "*.pt", "*.pth"]
IGNORED = [
    "*/*",  # subfolders: checkpoint-N/, original/, onnx/ ... (transformers reads only the top level)
    "consolidated*.safetensors",  # Mistral's own format, beside the transformers shards
    *STATE_PATTERNS,  # a Trainer's state
]
"""What `snapshot_download` never fetches (its `ignore_patterns`)."""


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


PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json", "tokenizer.json")
"""A model folder holds at least one of these beside its weights (`model.save_pretrained` alone writes none)."""


def _no_folder(repo_id: str) -> str:
    """A sentence for a hub id whose first part is a folder here (`models/reference` typed as
    `models/referense`): the user most likely meant a folder, which does not exist; the
    folder's subfolder of a close name is offered (`did you mean models/reference?`)."""
    parent, _, name = repo_id.partition("/")
    if name and Path(parent).expanduser().is_dir():
        near = close_folder(Path(parent).expanduser(), name)
        offer = f" Did you mean --model {parent}/{near}?" if near is not None else ""
        return f"{offer} ({parent}/ is a folder here, but it holds no {name}.)"
    return ""


def not_on_hub(repo_id: str) -> str:
    return f"Model {repo_id} was not found on the Hugging Face hub.{_no_folder(repo_id)}"


def not_downloaded(repo_id: str) -> str:
    """A hub id online that is not in the cache and could not be fetched (no network)."""
    return (
        f"Model {repo_id} could not be downloaded (no network?) and is not in the local hub cache; "
        f"pass a local folder with --model.{_no_folder(repo_id)}"
    )


def not_a_hub_id(repo_id: str) -> str:
    return f"{repo_id!r} is neither an existing folder nor a valid Hugging Face hub id (org/name)."


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
    if (blocked := unreachable(model, path)) is not None:
        raise ModelError(blocked)
    if path.is_dir():
        return ModelSource(folder=path.resolve(), model_id=model, revision=None)
    if path.exists():
        raise ModelError(a_file(model, path))
    if (repo := _hub_url_id(model)) is not None:
        raise ModelNotFoundError(f"{model} is a web address; name the model by its hub id: --model {repo}.")
    if (local := file_url(model)) is not None:
        raise ModelNotFoundError(file_url_hint(model, local))
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
    revision = _cached_commit(repo_id, revision, cache_dir) or revision
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_files_only=offline,
            allow_patterns=patterns,
            ignore_patterns=IGNORED,
        )
    except HFValidationError:
        raise ModelNotFoundError(not_a_hub_id(repo_id)) from None
    except GatedRepoError:
        raise ModelNotFoundError(
            f"Model {repo_id} is gated: accept its licence on huggingface.co and log in (hf auth login)."
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(not_on_hub(repo_id)) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"Model {repo_id} has no revision {revision!r}.") from None
    except LocalEntryNotFoundError:
        if (denied := _cache_denied(repo_id, cache_dir)) is not None:  # was "unexpected PermissionError ... refs"
            raise ModelError(denied) from None
        cached = _cached_revisions(repo_id, cache_dir)
        if revision is not None and cached:
            raise ModelNotFoundError(
                f"Model {repo_id} is in the local hub cache, but not its revision {revision!r} (cached: "
                f"{', '.join(cached)}){'; offline mode is on' if offline else ' and it could not be downloaded'}."
            ) from None
        if offline:
            raise ModelNotFoundError(
                f"Model {repo_id} is not in the local hub cache and offline mode is on; "
                f"download it once with network access, or pass a local folder with --model."
                f"{_no_folder(repo_id)}{_hub_below(repo_id, cache_dir)}"
            ) from None
        raise ModelNotFoundError(not_downloaded(repo_id)) from None
    except PermissionError as err:  # writing a download into a cache of another user's ("check the network")
        where = err.filename or _cache_entry(repo_id, cache_dir)
        raise ModelError(
            f"Model {repo_id} could not be fetched into the hub cache: {where}: permission denied; give your user "
            "write access to the cache, or point HF_HUB_CACHE at one of your own."
        ) from None
    except OSError as err:  # connection errors and the like surface as OSError subclasses
        raise ModelNotFoundError(
            f"Model {repo_id} could not be fetched from the hub ({type(err).__name__}); "
            "check the network or use --offline with a cached model."
        ) from None
    folder_path = Path(folder)
    return ModelSource(folder=folder_path, model_id=repo_id, revision=folder_path.name)


def _cache_entry(repo_id: str, cache_dir: Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def _cache_denied(repo_id: str, cache_dir: Path | None) -> str | None:
    """A line for a hub cache entry of `repo_id` that exists but cannot be read (the cache,
    the entry, its refs/ or snapshots/ without permission), or None."""
    entry = _cache_entry(repo_id, cache_dir)
    try:
        entry.stat()
    except PermissionError:
        return _denied_line(repo_id, entry.parent, entry.parent)
    except OSError:
        return None  # not cached: snapshot_download says so, or downloads it
    for path in (entry, entry / "refs", entry / "snapshots"):
        try:
            os.listdir(path)
        except PermissionError:
            return _denied_line(repo_id, path, entry)
        except OSError:
            continue
    return None


def _denied_line(repo_id: str, path: Path, fix_at: Path) -> str:
    return (
        f"Model {repo_id} cannot be read from the hub cache: {path}: permission denied; give your user read "
        f"access (e.g. `chmod -R u+rX {fix_at}` if you own it), or point HF_HUB_CACHE at a cache of your own."
    )


def _cached_revisions(repo_id: str, cache_dir: Path | None) -> list[str]:
    """The branches/tags (refs) and commits (snapshots, as 12-digit prefixes) the hub cache holds for `repo_id`."""
    entry = _cache_entry(repo_id, cache_dir)
    refs = sorted(p.name for p in (entry / "refs").glob("*") if p.is_file())
    commits = sorted(p.name[:12] for p in (entry / "snapshots").glob("*") if p.is_dir())
    return refs + [c for c in commits if c not in refs]


def _cached_commit(repo_id: str, revision: str | None, cache_dir: Path | None) -> str | None:
    """The full commit of a cached snapshot that `revision` abbreviates (`0123456789ab`, as git
    and the hub's pages show commits), when exactly one does; else None. huggingface_hub
    resolves only full commits from the cache, so a short one was "not in the cache"."""
    if revision is None or not re.fullmatch(r"[0-9a-f]{7,39}", revision):
        return None
    snapshots = _cache_entry(repo_id, cache_dir) / "snapshots"
    try:
        found = [p.name for p in snapshots.glob(f"{revision}*") if p.is_dir()] if snapshots.is_dir() else []
    except OSError:  # an unreadable cache entry: the download fails and `_cache_denied` names it
        return None
    return found[0] if len(found) == 1 else None


def _hub_below(repo_id: str, cache_dir: Path | None) -> str:
    """A hint when `cache_dir` is the Hugging Face home (HF_HOME), whose hub/ holds the model."""
    if cache_dir is None:
        return ""
    hub = Path(cache_dir) / "hub"
    if (hub / f"models--{repo_id.replace('/', '--')}").is_dir():
        return f" ({cache_dir} is the Hugging Face home (HF_HOME); its hub cache is {hub}: pass --cache-dir {hub}.)"
    return ""


def _inner_models(folder: Path) -> str:
    """A hint naming the model folders inside `folder` (a Trainer's `output_dir` holds
    `checkpoint-500/`, `checkpoint-1000/`; a download may hold the model one level down)."""
    if folder.name.startswith("models--"):  # a hub cache entry: models--org--name (ids never hold "--")
        repo = folder.name.removeprefix("models--").replace("--", "/")
        return f"; it is a hub cache entry: pass its id, --model {repo} (with HF_HUB_CACHE={shlex.quote(str(folder.parent))})"
    try:
        found = [p for p in folder.iterdir() if p.is_dir() and (p / "config.json").is_file()]
        adapters = [p for p in folder.iterdir() if p.is_dir() and only_an_adapter(p)]
    except OSError:
        return ""
    found = [p for p in found if p not in adapters]
    if not found and adapters:
        return adapter_checkpoints_hint(sorted(adapters, key=_step_order))
    if not found:
        return ""

    found.sort(key=_step_order)
    names = ", ".join(p.name for p in found[-3:])
    return f"; it holds model folders ({names}{', ...' if len(found) > 3 else ''}): pass one, e.g. {found[-1]}"


def _step_order(path: Path) -> tuple[int, str]:
    """checkpoint-1000 after checkpoint-500."""
    step = path.name.rpartition("-")[2]
    return (int(step) if step.isdigit() else -1, path.name)


def dangling(folder: Path) -> list[str]:
    """Files of `folder` that are links to nothing: a hub snapshot whose blob was deleted
    (an interrupted download, `hf cache` pruning, a snapshot copied with `cp -r`, which keeps
    its relative links to `../../blobs/` but not the blobs)."""
    try:
        return [p.name for p in sorted(folder.iterdir()) if p.is_symlink() and not p.exists()]
    except OSError:
        return []


def gone_links(model: str, gone: list[str], *, hub_id: str | None = None) -> str:
    """The one line for a folder whose files link to hub cache blobs that are gone (`hub_id`:
    the model is the cache's own snapshot of that repo, so downloading it again mends it)."""
    what = "weights file" if all(name.endswith(".safetensors") for name in gone) else "file"
    again = (
        f"an interrupted download leaves this: download it again (`hf download {hub_id} --force-download`)"
        if hub_id
        else "a hub snapshot copied with `cp -r` keeps its links but not the files they point to: copy it with "
        "`cp -rL` (or download it again)"
    )
    return (
        f"{model} could not be loaded: a {what} is missing: {', '.join(gone)} link{'s' if len(gone) > 1 else ''} "
        f"to a hub cache blob that is gone; {again}."
    )


def read_model_config(folder: Path, *, hub_id: str | None = None) -> dict:
    """The folder's config.json as a dict; a clear error when it is missing or broken (`hub_id`:
    the folder is that repo's snapshot in the hub cache)."""
    config_path = folder / "config.json"
    if config_path.is_symlink() and not config_path.exists():
        raise ModelError(gone_links(hub_id or str(folder), dangling(folder), hub_id=hub_id))
    if not config_path.is_file():
        if adapter_base(folder) is not None:
            raise ModelError(adapter_message(folder))
        if (training := no_weights_reason(folder, str(folder))) is not None:
            raise ModelError(training)
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
    if only_an_adapter(folder):  # a base's config.json copied beside the adapter does not make it a model
        raise ModelError(adapter_message(folder))
    return data


def check_weights_safety(folder: Path, *, allow_pickle: bool) -> None:
    """Refuse folders whose only weights are pickled, unless pickle is allowed, and folders with
    no weights at all (a Trainer's state files are not weights; a ZeRO or FSDP checkpoint says
    how to consolidate its own)."""
    safe = any(holds_tensors(p) for p in folder.glob("*.safetensors"))  # a ZeRO-3 save may be empty
    pickled = [p.name for pattern in _PICKLED_WEIGHTS for p in folder.glob(pattern) if not is_training_state(p.name)]
    if not safe and pickled and not allow_pickle:
        raise UnsafeModelError(
            f"{folder} has only pickled weights ({', '.join(sorted(pickled)[:3])}), which can run code when "
            "loaded; pass --allow-pickle if you trust this model."
        )
    if not safe and not pickled:
        raise ModelError(no_weights_reason(folder, str(folder)) or f"{folder} has no model weights (*.safetensors).")
