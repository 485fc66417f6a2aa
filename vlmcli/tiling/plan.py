"""`ImagePlan`: what one image will cost, decided before any pixel is touched.

Every family's planner (`plan_qwen`, `plan_idefics3`, `plan_llava_next`, ...) returns
this one record, so `--dry-run --json` prints the same keys for every model:

    {"path", "width", "height", "resized": [w, h], "grid": [rows, cols], "tiles", "visual_tokens"}
"""

from __future__ import annotations

from dataclasses import dataclass, replace


def _positive_pair(value: tuple[int, int], what: str) -> tuple[int, int]:
    pair = tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{what} must be two positive ints, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class ImagePlan:
    """The resolution decision for one image and its visual-token cost."""

    width: int
    """Original image width in pixels (after EXIF rotation)."""
    height: int
    """Original image height in pixels."""
    resized: tuple[int, int]
    """(width, height) the image content is scaled to before it is cut into tiles, padding
    excluded. Qwen: the smart_resize size. Idefics3: the tile canvas (content is stretched to
    whole tiles). LLaVA-NeXT/OneVision/1.5: the content box inside the padded grid canvas."""
    grid: tuple[int, int]
    """(rows, cols) of full-resolution crops; (1, 1) when the image is not split (Qwen always)."""
    tiles: int
    """Images the vision encoder sees for this picture: crops plus the global/thumbnail view
    when the family adds one (LLaVA-NeXT/OneVision always; Idefics3 and LLaVA 1.5 only when split)."""
    visual_tokens: int
    """Placeholder tokens the image occupies in the prompt (image embeddings, including
    LLaVA-NeXT newline embeddings; excluding Idefics3's textual tile markers)."""
    path: str | None = None
    """Where the image came from, for reports; None for in-memory images."""

    def __post_init__(self) -> None:
        for name in ("width", "height", "tiles", "visual_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ImagePlan.{name} must be a positive int, got {value!r}")
        object.__setattr__(self, "resized", _positive_pair(self.resized, "ImagePlan.resized"))
        object.__setattr__(self, "grid", _positive_pair(self.grid, "ImagePlan.grid"))

    def with_path(self, path: str | None) -> ImagePlan:
        """The same plan, labelled with the file it describes."""
        return replace(self, path=path)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict with lists for pairs, keys in the documented order."""
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "resized": list(self.resized),
            "grid": list(self.grid),
            "tiles": self.tiles,
            "visual_tokens": self.visual_tokens,
        }
