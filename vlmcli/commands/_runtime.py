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

from typing import TYPE_CHECKING

from vlmcli.errors import BackendUnavailableError

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.engine import Engine

_CORE_BACKENDS = {"torch", "transformers", "accelerate", "safetensors", "tokenizers", "huggingface_hub"}


def load_engine(config: "EngineConfig") -> "Engine":
    """Load the model described by `config` (slow: imports torch, reads weights)."""
    try:
        from vlmcli.engine.engine import Engine
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
    return Engine.load(config)
