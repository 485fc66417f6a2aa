"""The in-process engine: load a VLM, encode images, generate tokens.

Importing this package is cheap; torch and transformers load only when an
`Engine` is created (see `vlmcli.engine.engine`).
"""

from vlmcli.engine.config import Device, DType, EngineConfig, GenerationConfig
from vlmcli.engine.events import FinishEvent, GenerationResult, Timings, TokenEvent
from vlmcli.engine.request import Request
from vlmcli.media.image_input import ImageInput

__all__ = [
    "Device",
    "DType",
    "EngineConfig",
    "FinishEvent",
    "GenerationConfig",
    "GenerationResult",
    "ImageInput",
    "Request",
    "Timings",
    "TokenEvent",
]


def __getattr__(name: str):  # lazy: `from vlmcli.engine import Engine` imports torch only then
    if name == "Engine":
        from vlmcli.engine.engine import Engine

        return Engine
    raise AttributeError(name)
