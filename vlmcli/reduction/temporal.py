"""`--temporal-pool`: which frames (or temporal patches) of a clip are averaged into one.

Grammar (case-insensitive):

    none | 1       keep every temporal unit
    K              average every K adjacent units (K >= 2)
    sim[:T]        average runs of near-identical consecutive units (cosine >= T, default 0.95)

A "unit" is what a model's video tokens are organised by in time: a frame for SmolVLM2,
LLaVA-OneVision and the frames-as-images families, a temporal patch of 2 frames for Qwen.

The groups are planned here *before* the vision encoder runs, so the prompt's placeholder
count (and a dry run's token count) is known up front. The similarity mode therefore
compares the decoded frames, not their features: each frame is reduced to a 16 x 16
thumbnail centred on mid-grey (`frame_signatures`), and consecutive units whose signatures
have cosine similarity >= T with the first unit of the run are merged
(`pooling.merge_similar`, which compares each unit with its run's first unit so a slow pan
never chains into one group). Centring on mid-grey rather than on each frame's own mean
keeps flat frames of different colours apart (red vs blue: cosine about -0.3).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmcli.errors import ConfigError
from vlmcli.reduction.pooling import Groups, temporal_groups

if TYPE_CHECKING:  # numpy loads inside the functions: parsing flags stays import-light
    import numpy as np

DEFAULT_THRESHOLD = 0.95
SIGNATURE_SIDE = 16  # thumbnail side for similarity: layout and colour, not noise


class TemporalMode(str, enum.Enum):
    NONE = "none"
    FIXED = "fixed"
    """Every K adjacent units."""
    SIMILAR = "sim"
    """Runs of near-identical units."""


@dataclass(frozen=True)
class TemporalPoolSpec:
    """A parsed `--temporal-pool` value.

    mode: which grouping.
    k: units per group for FIXED (>= 2); 1 otherwise.
    threshold: cosine similarity in [-1, 1] for SIMILAR; unused otherwise.
    """

    mode: TemporalMode = TemporalMode.NONE
    k: int = 1
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.mode is TemporalMode.FIXED and self.k < 2:
            raise ConfigError(f"--temporal-pool K needs an integer K >= 2, got {self.k}.")
        if self.mode is not TemporalMode.FIXED and self.k != 1:
            raise ConfigError("--temporal-pool takes a factor K only in its plain form, e.g. --temporal-pool 2.")
        if not (math.isfinite(self.threshold) and -1.0 <= self.threshold <= 1.0):
            raise ConfigError(f"--temporal-pool sim:T needs a cosine similarity T in [-1, 1], got {self.threshold}.")

    @property
    def active(self) -> bool:
        return self.mode is not TemporalMode.NONE

    def __str__(self) -> str:
        if self.mode is TemporalMode.FIXED:
            return str(self.k)
        if self.mode is TemporalMode.SIMILAR:
            return f"sim:{self.threshold:g}"
        return "none"


def parse_temporal_pool(text: str) -> TemporalPoolSpec:
    """"2" -> every 2 units; "sim:0.9" -> similar runs; "none"/"1" -> off. Else `ConfigError`."""
    value = str(text).strip().lower()
    if value in ("", "none", "1", "off"):
        return TemporalPoolSpec()
    head, _, tail = value.partition(":")
    if head == "sim":
        try:
            threshold = float(tail) if tail else DEFAULT_THRESHOLD
        except ValueError:
            raise ConfigError(f"--temporal-pool {text!r}: the threshold after 'sim:' must be a number.") from None
        return TemporalPoolSpec(TemporalMode.SIMILAR, threshold=threshold)
    try:
        k = int(value)
    except ValueError:
        raise ConfigError(
            f"Unknown --temporal-pool value {text!r}; use K (an integer >= 2), sim[:T] or none."
        ) from None
    return TemporalPoolSpec(TemporalMode.FIXED, k=k)


def frame_signatures(frames: "np.ndarray", *, side: int = SIGNATURE_SIDE) -> "np.ndarray":
    """uint8 (T, H, W, 3) frames -> float32 (T, side*side*3) thumbnails centred on mid-grey.

    Area-averaged (each output cell is the mean of the pixels it covers), so the result
    does not depend on the frame size beyond rounding.
    """
    import numpy as np

    t, h, w, _ = frames.shape
    rows = np.linspace(0, h, min(side, h) + 1).astype(np.int64)  # (side+1,) cell edges
    cols = np.linspace(0, w, min(side, w) + 1).astype(np.int64)
    x = frames.astype(np.float32)
    by_rows = np.add.reduceat(x, rows[:-1], axis=1) / np.diff(rows)[None, :, None, None]  # (T, side, W, 3)
    cells = np.add.reduceat(by_rows, cols[:-1], axis=2) / np.diff(cols)[None, None, :, None]  # (T, side, side, 3)
    return (cells - 127.5).reshape(t, -1)  # (T, D)


def unit_signatures(signatures: "np.ndarray", *, frames_per_unit: int) -> "np.ndarray":
    """(T, D) frame signatures -> (ceil(T / f), D) unit signatures (mean over each unit's frames)."""
    import numpy as np

    t = signatures.shape[0]
    return np.stack([signatures[s : s + frames_per_unit].mean(axis=0) for s in range(0, t, frames_per_unit)])


def plan_groups(spec: TemporalPoolSpec, *, units: int, signatures: "np.ndarray | None" = None) -> Groups | None:
    """Units averaged into each output unit, or None when nothing is pooled.

    signatures: (units, D) from `frame_signatures` / `unit_signatures`; required for SIMILAR.
    """
    if units < 1:
        raise ValueError(f"a clip needs at least one temporal unit, got {units}")
    if spec.mode is TemporalMode.NONE:
        return None
    if spec.mode is TemporalMode.FIXED:
        groups = temporal_groups(units, spec.k)
    else:
        if signatures is None or signatures.shape[0] != units:
            raise ValueError(f"similarity pooling needs one signature per unit ({units})")
        import numpy as np
        import torch

        from vlmcli.reduction.pooling import merge_similar

        _, groups = merge_similar(torch.from_numpy(np.ascontiguousarray(signatures))[:, None, :], spec.threshold)
    return None if len(groups) == units else groups
