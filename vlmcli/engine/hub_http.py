"""Hub requests with a time limit, so a stalled network falls back to the local cache.

huggingface_hub's shared HTTP client has no timeout (`timeout=None`), and the first call of
`snapshot_download` (the repo's metadata) uses it as is: behind a captive portal, a firewall
that drops packets or a dead proxy, `vlm ask -m org/model` waited forever, silently, even
with the model cached. Its own file downloads already stop after HF_HUB_DOWNLOAD_TIMEOUT
(10 s by default); every other hub request now does too, and `snapshot_download` takes a
timeout as it takes an unreachable network: it uses the cached snapshot, or says the model
could not be downloaded. A client factory the user set (`set_client_factory`) is left as it is.
"""

from __future__ import annotations

from typing import Any


def bound_hub_requests() -> float | None:
    """Give huggingface_hub's requests a connect/read timeout; the seconds, or None when the
    user's own client factory is in place (or this huggingface_hub has no such hook)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    default = getattr(_http, "default_client_factory", None)
    current = getattr(_http, "_GLOBAL_CLIENT_FACTORY", None)
    if default is None or current is None or getattr(current, "_vlmcli_timeout", None) is not None:
        return getattr(current, "_vlmcli_timeout", None)
    if current is not default:
        return None
    seconds = float(constants.HF_HUB_DOWNLOAD_TIMEOUT)

    def bounded(request: Any) -> None:
        """Every limit the call left open (its `timeout=None`, which overrides a client's
        default) becomes `seconds`; limits the call set (downloads) are kept."""
        limits = dict.fromkeys(("connect", "read", "write", "pool")) | dict(request.extensions.get("timeout") or {})
        request.extensions["timeout"] = {name: seconds if value is None else value for name, value in limits.items()}

    def factory() -> Any:
        client = default()
        hooks = client.event_hooks
        client.event_hooks = {**hooks, "request": [*hooks.get("request", []), bounded]}
        return client

    factory._vlmcli_timeout = seconds  # type: ignore[attr-defined]
    _http.set_client_factory(factory)
    return seconds
