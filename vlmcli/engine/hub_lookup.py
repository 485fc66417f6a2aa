"""Online, a hub id that is not in the cache is looked up before a command reads its inputs.

`check_model` (loader) settles a local folder, and offline a hub id, in milliseconds; a hub
id online was left to the load, so `caption-dir -m models/referense` (a typo of the folder
`models/reference`, which reads as the hub id `models/referense`) hashed every input first
and failed after. Now a hub id the cache does not hold is asked about with one metadata
request (`HfApi.model_info`, no file downloaded, under `hub_http`'s time limit): a repo the
hub does not know, a revision it lacks, or no network at all is the same one line (exit 4)
the load gives, said before the scan. A cached model makes no request here (the load
checks it as before), and an answer that is neither yes nor no (a gated or private repo,
the hub down, a rate limit) leaves the question to the load.
"""

from __future__ import annotations

from pathlib import Path

from vlmcli.errors import ModelNotFoundError


def check_hub_id(repo_id: str, *, revision: str | None, cache_dir: Path | None) -> None:
    """Raise `ModelNotFoundError` (or the cache's `ModelError`) now for a hub id the load
    would fail on; return when it is cached or the hub knows it (module docstring)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    from vlmcli.engine.hub_http import bound_hub_requests
    from vlmcli.engine.source import not_a_hub_id, not_downloaded, not_on_hub

    if _cached(repo_id, revision=revision, cache_dir=cache_dir):
        return
    bound_hub_requests()  # a stalled network: the time limit, then the line below
    try:
        HfApi().model_info(repo_id, revision=revision)
    except HFValidationError:
        raise ModelNotFoundError(not_a_hub_id(repo_id)) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"Model {repo_id} has no revision {revision!r}.") from None
    except RepositoryNotFoundError:  # also a private repo without a token: the load says the same
        raise ModelNotFoundError(not_on_hub(repo_id)) from None
    except HfHubHTTPError:
        return  # gated, the hub down, a rate limit: the load decides, as before
    except _network_errors():
        raise ModelNotFoundError(not_downloaded(repo_id)) from None


def _cached(repo_id: str, *, revision: str | None, cache_dir: Path | None) -> bool:
    """Whether the hub cache holds `repo_id` at `revision` (no network): what the load would
    fall back to. An unreadable cache entry is said now (`source._from_hub`'s line)."""
    from vlmcli.engine.source import _from_hub

    try:
        _from_hub(repo_id, revision=revision, offline=True, cache_dir=cache_dir, allow_pickle=False)
    except ModelNotFoundError:
        return False
    return True


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a request that reached no hub raises: OSError (requests-based huggingface_hub) and
    the transport errors of the httpx it uses."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        transport = getattr(module, "TransportError", None)
        if isinstance(transport, type):
            errors.append(transport)
    return tuple(errors)
