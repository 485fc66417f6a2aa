"""What vlmcli runs on: Python, platform and the versions of the packages it depends on.

`vlm config` prints it (and `--json` carries it), so a bug report or a "why does it fail
here" starts from the facts that decided the last round's environment bugs: a transformers
outside the supported range, a missing or mismatched torchvision, decord absent (no wheel
for the platform). Versions come from package metadata, nothing is imported, so
`vlm config` stays as fast as `vlm --help`.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

from vlmcli.engine.versions import installed, matching_torchvision, parse_version, torchvision_fix, transformers_problem


@dataclass(frozen=True)
class Package:
    """One dependency: its installed version (None: not installed) and what that means for vlmcli."""

    name: str
    version: str | None
    note: str


def _torchvision(version: str | None, torch: str | None) -> str:
    if torch is None:
        return ""
    if version is None:
        return f"not installed: most families' processors need it; {torchvision_fix(torch)}"
    expected = matching_torchvision(torch)
    if expected is not None and parse_version(version) != parse_version(expected):
        return f"built for another torch (torch {torch} goes with torchvision {expected}); {torchvision_fix(torch)}"
    return ""


# name -> what it is for, shown when an optional package is missing
_OPTIONAL = {
    "decord": "not installed: PyAV reads every video",
    "ray": "not installed: caption-dir --engine ray needs vlmcli[ray]",
    "xgrammar": "not installed: --schema/--choice/--regex/--json-mode need vlmcli[structured]",
    "timm": "not installed: FastVLM models need vlmcli[fastvlm]",
    "pillow-heif": "not installed: HEIC photos (iPhones' format) need vlmcli[heif]",
}
_REQUIRED = ("accelerate", "av", "pillow", "pyarrow", "tokenizers", "huggingface_hub")


def packages() -> list[Package]:
    """The packages that decide what vlmcli can run, in a fixed order."""
    torch, vision, hf = installed("torch"), installed("torchvision"), installed("transformers")
    rows = [
        Package("torch", torch, "" if torch else "not installed: install torch first (README, Quick start)"),
        Package("torchvision", vision, _torchvision(vision, torch)),
        Package("transformers", hf, transformers_problem(hf) or ""),
    ]
    missing = {name: "not installed: a required package" for name in _REQUIRED} | _OPTIONAL
    for name, note in missing.items():
        version = installed(name)
        rows.append(Package(name, version, "" if version else note))
    return rows


def describe() -> dict[str, object]:
    """Python, platform and packages, as `vlm config --json` reports them."""
    return {
        "python": platform.python_version(),
        "platform": f"{sys.platform} {platform.machine()}",
        "packages": {p.name: {"version": p.version, "note": p.note} for p in packages()},
    }
