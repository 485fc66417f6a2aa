"""PEFT/LoRA adapter folders: told apart from whole models before anything loads.

PEFT's `save_pretrained` writes `adapter_config.json` (naming the base model) and
`adapter_model.safetensors`: a few million delta weights, not a model. Fine-tuning scripts
often copy the base's `config.json` and tokenizer beside them, which made the folder pass
for a model until transformers found no `model.safetensors` ("an interrupted download").
An adapter is refused with how to merge it, whether or not a config.json sits beside it;
a folder that holds a merged model too (its own `model*.safetensors`) loads that model.
"""

from __future__ import annotations

import json
from pathlib import Path

_ADAPTER_WEIGHTS = ("adapter_model",)


def adapter_base(folder: Path) -> str | None:
    """The base model a PEFT adapter folder names ("unknown" if it names none); None if not an adapter."""
    path = folder / "adapter_config.json"
    if not path.is_file():
        return None
    try:
        base = json.loads(path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        base = None
    return str(base) if base else "unknown"


def only_an_adapter(folder: Path) -> bool:
    """An adapter folder whose weights files are all the adapter's (no whole model beside it)."""
    if adapter_base(folder) is None:
        return False
    weights = [p.name for suffix in ("*.safetensors", "*.bin") for p in folder.glob(suffix)]
    return not any(not name.startswith(_ADAPTER_WEIGHTS) and name != "training_args.bin" for name in weights)


MERGE = "PeftModel.from_pretrained(base, ADAPTER).merge_and_unload().save_pretrained(OUT)"


def adapter_message(folder: Path) -> str:
    """The one line for an adapter folder passed as a model."""
    return (
        f"{folder} is a PEFT/LoRA adapter (adapter_config.json, base model {adapter_base(folder)}), not a whole model: "
        f"merge it into its base ({MERGE}, with the base's processor saved beside it) and pass that folder."
    )


def adapter_checkpoints_hint(found: list[Path]) -> str:
    """The hint for a run folder whose model folders are adapters (`checkpoint-N/` of a LoRA run)."""
    names = ", ".join(p.name for p in found[-3:]) + (", ..." if len(found) > 3 else "")
    return (
        f"; it holds PEFT/LoRA adapter checkpoints ({names}; base model {adapter_base(found[-1])}): merge one into "
        f"its base ({MERGE}) and pass OUT, e.g. from {found[-1]}"
    )
