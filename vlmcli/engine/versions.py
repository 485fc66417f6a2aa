"""The transformers versions vlmcli runs on, checked before a model loads.

pip keeps `transformers>=5.25,<6` (pyproject.toml) when it installs vlmcli, but an
environment can still hold an older one (`--no-deps`, conda, a pinned lock file). Older
releases fail deep inside a forward with a TypeError (5.23: the mask functions' `cache`
argument; 5.24: Molmo2's pooling of several images) or, worse, give a different prompt
without any error (5.23: Qwen3-VL clips, bench/RESULTS.md "transformers drift"). So the
loader checks the installed version first and says how to fix it, in one line.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata

from vlmcli.errors import BackendUnavailableError

MIN_TRANSFORMERS = (5, 25)
"""The oldest transformers the full test suite passes on (5.23 and 5.24 fail it); pyproject.toml says the same."""
MAX_TRANSFORMERS_EXCLUSIVE = (6, 0)


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '5.25.0', '5.26.0.dev0' or '5.25.0+local'."""
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def installed(name: str) -> str | None:
    """The installed version of distribution `name` (from its metadata, nothing imported); None if absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


TRANSFORMERS_RANGE = f">={MIN_TRANSFORMERS[0]}.{MIN_TRANSFORMERS[1]},<{MAX_TRANSFORMERS_EXCLUSIVE[0]}"


def transformers_problem(version: str | None) -> str | None:
    """What is wrong with transformers `version` for vlmcli (None: not installed); None when it is supported."""
    if version is None:
        return f"not installed: vlmcli needs transformers{TRANSFORMERS_RANGE}"
    if MIN_TRANSFORMERS <= parse_version(version) < MAX_TRANSFORMERS_EXCLUSIVE:
        return None
    return f"unsupported: vlmcli needs transformers{TRANSFORMERS_RANGE}"


def check_transformers(version: str | None = None) -> str:
    """The installed transformers version (or `version`); `BackendUnavailableError` when vlmcli cannot run on it."""
    found = installed("transformers") if version is None else version
    if found is None:
        raise BackendUnavailableError(
            f"transformers is not installed; vlmcli needs it: pip install 'transformers{TRANSFORMERS_RANGE}'."
        )
    if transformers_problem(found) is not None:
        (low_major, low_minor), (high_major, _) = MIN_TRANSFORMERS, MAX_TRANSFORMERS_EXCLUSIVE
        raise BackendUnavailableError(
            f"vlmcli needs transformers >= {low_major}.{low_minor} and < {high_major} (found {found}): "
            f"pip install 'transformers{TRANSFORMERS_RANGE}'."
        )
    return found


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release built for `torch_version` ('2.13.0+cpu' -> '0.28.0'); None if unknown.

    Installing any other torchvision makes pip replace the torch it was built against (on a
    CPU machine: with a multi-GB CUDA build from the index).
    """
    match = re.match(r"\s*2\.(\d+)\.(\d+)", torch_version)
    return f"0.{int(match.group(1)) + 15}.{match.group(2)}" if match else None


def torchvision_fix(torch_version: str) -> str:
    """The pip command that installs the torchvision built for `torch_version` (its own index
    for a '+cpu' / '+cu130' build: PyPI's torchvision for another build breaks on import)."""
    vision = matching_torchvision(torch_version)
    if vision is None:
        return f"install the torchvision release built for torch {torch_version}"
    local = torch_version.partition("+")[2]
    index = f" --index-url https://download.pytorch.org/whl/{local}" if local else ""
    return f"pip install torchvision=={vision}{index}"


def torchvision_missing(model: str, torch_version: str, cause: str) -> str:
    """One line for a processor that needs torchvision when it is not installed."""
    return (
        f"{model}: its processor needs torchvision, which is not installed ({cause}); "
        f"{torchvision_fix(torch_version)} (the release built for torch {torch_version}; another one replaces or breaks it)."
    )


def torchvision_broken(torch_version: str) -> str | None:
    """One line when torchvision is installed but cannot be imported with this torch (a build for
    another torch: 'operator torchvision::nms does not exist'); None when it imports or is absent."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        import torchvision  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure is the diagnosis
        installed = metadata.version("torchvision")
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1]
        return (
            f"torchvision {installed} does not work with torch {torch_version} ({first}); "
            f"install the release built for it: {torchvision_fix(torch_version)}."
        )
    return None
