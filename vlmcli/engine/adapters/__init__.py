"""Model-family adapters, found by transformers `model_type`."""

from __future__ import annotations

from vlmcli.engine.adapters.base import Adapter, PreparedImage, PreparedRequest
from vlmcli.engine.adapters.idefics3 import Idefics3Adapter
from vlmcli.engine.adapters.llava import LlavaNextAdapter, LlavaOnevisionAdapter
from vlmcli.engine.adapters.llava15 import LlavaAdapter
from vlmcli.engine.adapters.qwen_vl import QwenVLAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "idefics3": Idefics3Adapter,
    "smolvlm": Idefics3Adapter,
    "qwen2_vl": QwenVLAdapter,
    "qwen2_5_vl": QwenVLAdapter,
    "qwen3_vl": QwenVLAdapter,
    "qwen3_vl_moe": QwenVLAdapter,
    "llava": LlavaAdapter,
    "llava_next": LlavaNextAdapter,
    "llava_onevision": LlavaOnevisionAdapter,
}

__all__ = ["ADAPTERS", "Adapter", "PreparedImage", "PreparedRequest"]
