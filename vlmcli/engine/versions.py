"""The transformers versions vlmcli runs on, checked before a model loads.

pip keeps `transformers>=5.25,<6` (pyproject.toml) when it installs vlmcli, but an
environment can still hold an older one (`--no-deps`, conda, a pinned lock file). Older
releases fail deep inside a forward with a TypeError (5.23: the mask functions' `cache`
argument; 5.24: Molmo2's pooling of several images) or, worse, give a different prompt
without any error (5.23: Qwen3-VL clips, bench/RESULTS.md "transformers drift"). So the
loader checks the installed version first and says how to fix it, in one line.
"""

from __future__ import annotations

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


def check_transformers(installed: str | None = None) -> str:
    """The installed transformers version; `BackendUnavailableError` when vlmcli cannot run on it."""
    if installed is None:
        try:
            installed = metadata.version("transformers")
        except metadata.PackageNotFoundError:
            raise BackendUnavailableError(
                "transformers is not installed; vlmcli needs it: pip install 'transformers>=5.25,<6'."
            ) from None
    low, high = MIN_TRANSFORMERS, MAX_TRANSFORMERS_EXCLUSIVE
    if not low <= parse_version(installed) < high:
        raise BackendUnavailableError(
            f"vlmcli needs transformers >= {low[0]}.{low[1]} and < {high[0]} (found {installed}): "
            f"pip install 'transformers>={low[0]}.{low[1]},<{high[0]}'."
        )
    return installed
