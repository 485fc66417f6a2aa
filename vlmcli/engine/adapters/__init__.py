"""Model-family adapters behind one interface (`base.Adapter`).

Which adapter handles which transformers `model_type` is declared in the family registry
(`vlmcli.families`), as a "module:Class" reference the loader imports on first use;
`generic.GenericAdapter` is the base for families that follow transformers' common VLM
interface.
"""

from __future__ import annotations

from vlmcli.engine.adapters.base import Adapter, PreparedImage, PreparedRequest

__all__ = ["Adapter", "PreparedImage", "PreparedRequest"]
