"""A supported family's folder that ships its own Python code (`auto_map`), said as it is.

A config.json `auto_map` names classes in the repository's own `.py` files. vlmcli never
runs them unless `--trust-remote-code` is given; with it, transformers loads the repository's
class in place of its built-in one for each class vlmcli loads that `auto_map` names
(AutoConfig, AutoModelForImageTextToText, AutoProcessor and its parts) and its built-in
classes for the rest. The refusal used to say "vlmcli loads the built-in classes instead"
while refusing; now it says which classes the flag would take from the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlmcli.errors import UnsafeModelError

MODEL_CLASSES = ("AutoConfig", "AutoModelForImageTextToText")
"""What vlmcli loads through config.json."""
PROCESSOR_CLASSES = ("AutoProcessor", "AutoTokenizer", "AutoImageProcessor", "AutoVideoProcessor")
PROCESSOR_CONFIGS = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")


def _auto_map(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get("auto_map") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def code_classes(folder: Path, config: dict) -> list[str]:
    """The classes vlmcli loads that the folder's own code would provide with --trust-remote-code."""
    named = {name for name in (config.get("auto_map") or {}) if name in MODEL_CLASSES}
    for file in PROCESSOR_CONFIGS:
        named |= {name for name in _auto_map(folder / file) if name in PROCESSOR_CLASSES}
    return sorted(named)


def check_remote_code(folder: Path, config: dict, model: str, model_type: str, *, trusted: bool) -> None:
    """Refuse a folder with an `auto_map` unless its code is trusted, saying what the flag changes."""
    if "auto_map" not in config or trusted:
        return
    listed = ", ".join(sorted(config["auto_map"])) if isinstance(config["auto_map"], dict) else "auto_map"
    used = code_classes(folder, config)
    if used:
        effect = (
            f"with it, transformers runs the repository's own {', '.join(used)} in place of its built-in "
            f"{model_type!r} classes"
        )
    else:
        effect = (
            f"it names no class vlmcli loads, so with the flag vlmcli runs transformers' built-in {model_type!r} "
            "classes, which may not do what that code does"
        )
    raise UnsafeModelError(
        f"{model} ships its own Python code (auto_map: {listed}), which vlmcli does not run without "
        f"--trust-remote-code; {effect}. Pass it only if you trust this repository."
    )
