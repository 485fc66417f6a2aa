"""The CLI's single way to obtain an engine.

Commands call `_runtime.load_engine(config)` (through the module attribute, never a
`from`-import) so that tests can replace this one function with a fake engine. The
production path always loads the real `vlmcli.engine.engine.Engine`; torch and
transformers are imported here, lazily, and nowhere else in `vlmcli.commands`.

The contract a command relies on (and a fake must provide):
    engine.model_id: str     engine.family: object     engine.load_s: float
    engine.stream(requests, gen) -> Iterator[TokenEvent | FinishEvent]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vlmcli.errors import BackendUnavailableError

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.engine import Engine
    from vlmcli.engine.loader import LoadedModel

_CORE_BACKENDS = {"torch", "transformers", "accelerate", "safetensors", "tokenizers", "huggingface_hub"}


def load_engine(config: "EngineConfig") -> "Engine":
    """Load the model described by `config` (slow: imports torch, reads weights)."""
    with _backend_check():
        from vlmcli.engine.engine import Engine
    return Engine.load(config)


def check_model(config: "EngineConfig", *, device_asked: str | None = None) -> None:
    """Refuse a model that cannot load before a long scan of the inputs (`loader.check_model`;
    no torch; online, a hub id not in the cache is looked up on the hub: `hub_lookup`). Fakes
    replace it with a no-op, as they replace `load_engine`.

    device_asked: the device setting as the user wrote it (`Settings.spelled`): a GPU asked
    for on a machine without one is refused now, naming where it was set (`$VLM_DEVICE=cuda`,
    the config file), which imports torch; None leaves the device to the load (Ray workers
    have GPUs the driver may lack)."""
    with _backend_check():
        from vlmcli.engine.loader import check_model as check

    check(config)
    if device_asked is not None and (config.device.value not in ("auto", "cpu") or config.gpu is not None):
        with _backend_check():
            from vlmcli.engine.device import resolve_device
        resolve_device(config.device, config.gpu, asked=device_asked)


def load_planner(config: "EngineConfig") -> "LoadedModel":
    """Config and processor of the model, no weights: for --dry-run plans."""
    with _backend_check():
        from vlmcli.engine.loader import load_planner as load

    return load(config)


@contextmanager
def _backend_check() -> Iterator[None]:
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in _CORE_BACKENDS:
            raise
        hint = (
            "install PyTorch for your machine first (https://pytorch.org/get-started/locally/), then `pip install vlmcli`"
            if top == "torch"
            else f"`pip install {top}`"
        )
        raise BackendUnavailableError(f"{top} is not installed; {hint}.") from exc
