"""Idefics2 image views and their (fixed) token cost.

The image processor (transformers `Idefics2ImageProcessor`) keeps each image's aspect
ratio and size, within bounds, instead of tiling a canvas like Idefics3:

1. With `do_image_splitting`, the image is first cut into its four quarters (top-left,
   top-right, bottom-left, bottom-right; the halves are `width // 2` and `height // 2`),
   and the whole image is appended: five views. Without it, the image is the one view.
2. Each view is resized on its own: if its long side exceeds `longest_edge` it is scaled
   down to it (the other side int()-truncated); then each side is raised to at least
   `shortest_edge` (independently, so thin images are stretched). Images are never
   upscaled otherwise.
3. The views are padded to the largest of the batch, with a pixel mask; the vision tower
   attends only to the real patches.

The perceiver resampler turns every view into exactly `image_seq_len` (64) tokens
whatever its size, so the cost depends only on splitting: 5 x 64 or 64 per image, written
as `<fake_token_around_image>` + `<image>` * 64 + `<fake_token_around_image>` per view
(adjacent markers merged). Pixels change the detail and the vision tower's work, never
the token count.

The `ResolutionPolicy` maps onto the two native knobs, `do_image_splitting` (one setting
per processor: the prompt expansion reads it from the processor object) and
`size={"shortest_edge", "longest_edge"}` (`idefics2_settings`). A "tile" is a view of at
most `longest_edge` px (980 for idefics2-8b); the split has 4 full-resolution crops.

- `--max-tiles N` below 4 turns splitting off (64 tokens instead of 320); it never turns
  it on.
- `--max-pixels P` caps the pixels of every view the vision tower gets, the whole image
  of a split included (the 4 crops + the whole image, or the single view): splitting is
  turned off when even 5 views of the minimum size (`shortest_edge`^2 each) exceed P, and
  `longest_edge` (with `shortest_edge` no larger) is lowered, never raised, until the
  views of every image of the prompt add up to at most P. A P below one patch of the
  vision tower is refused (ConfigError, "below one ... patch").
- `--min-pixels P` above one view (`longest_edge`^2) turns splitting on, which is the most
  Idefics2 can look at (4 crops + the whole image); it never upscales further (the
  processor only shrinks), and the caps above win over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

SPLIT_CROPS = 4
"""Full-resolution crops of a split image (the whole image is the fifth view)."""


@dataclass(frozen=True)
class Idefics2Spec:
    """What Idefics2 planning needs. Defaults: HuggingFaceM4/idefics2-8b."""

    longest_edge: int = 980
    """`image_processor.size["longest_edge"]`."""
    shortest_edge: int = 378
    """`image_processor.size["shortest_edge"]`."""
    image_seq_len: int = 64
    """`processor.image_seq_len` (= `perceiver_config.resampler_n_latents`)."""
    do_image_splitting: bool = False
    """`image_processor.do_image_splitting`."""
    patch_size: int = 14
    """`vision_config.patch_size`: the smallest view the vision tower can take."""

    def __post_init__(self) -> None:
        for name in ("longest_edge", "shortest_edge", "image_seq_len", "patch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Idefics2 {name} must be a positive integer, not {value!r}.")


@dataclass(frozen=True)
class Idefics2Settings:
    """The native knobs for one prompt: the processor takes one of each."""

    do_image_splitting: bool
    shortest_edge: int
    longest_edge: int

    def size(self) -> dict[str, int]:
        return {"shortest_edge": self.shortest_edge, "longest_edge": self.longest_edge}


def idefics2_resize(*, width: int, height: int, shortest_edge: int, longest_edge: int) -> tuple[int, int]:
    """(width, height) of one view after the processor's resize (`get_resize_output_image_size`)."""
    aspect_ratio = width / height
    if width >= height and width > longest_edge:
        width = longest_edge
        height = int(width / aspect_ratio)
    elif height > width and height > longest_edge:
        height = longest_edge
        width = int(height * aspect_ratio)
    return max(width, shortest_edge), max(height, shortest_edge)


def idefics2_views(
    *, width: int, height: int, split: bool, shortest_edge: int, longest_edge: int
) -> list[tuple[int, int]]:
    """(width, height) of every view the processor feeds for one image, in its order:
    the four quarters then the whole image when split, else the image alone."""
    if split:
        check_splittable([(width, height)])
        mid_w, mid_h = width // 2, height // 2
        pieces = [(mid_w, mid_h), (width - mid_w, mid_h), (mid_w, height - mid_h), (width - mid_w, height - mid_h)]
        pieces.append((width, height))
    else:
        pieces = [(width, height)]
    return [
        idefics2_resize(width=w, height=h, shortest_edge=shortest_edge, longest_edge=longest_edge)
        for w, h in pieces
    ]


def check_splittable(sizes: list[tuple[int, int]]) -> None:
    """InputError for an image with a side under 2 px: its quarters would be empty (the
    processor fails on them), so it cannot be split; `--max-tiles 1` turns splitting off."""
    for width, height in sizes:
        if min(width, height) < 2:
            raise about_image(InputError(
                f"A {width}x{height} image is too thin for Idefics2's image splitting (a side under 2 px); "
                "ask with --max-tiles 1 to look at it whole."
            ), width=width, height=height)


def _fitting_edge(spec: Idefics2Spec, *, width: int, height: int, split: bool, budget: int) -> int:
    """The largest `longest_edge` (<= the checkpoint's, shortest edge no larger) whose
    views (every one: the whole image of a split too) add up to at most `budget` pixels."""
    for edge in range(spec.longest_edge, spec.patch_size - 1, -1):
        views = idefics2_views(
            width=width, height=height, split=split, shortest_edge=min(spec.shortest_edge, edge), longest_edge=edge
        )
        if sum(w * h for w, h in views) <= budget:
            return edge
    return spec.patch_size


def idefics2_settings(spec: Idefics2Spec, policy: ResolutionPolicy, sizes: list[tuple[int, int]]) -> Idefics2Settings:
    """The knobs that apply `policy` to one prompt's (width, height) images (see the module
    docstring). An all-default policy gives the checkpoint's own settings."""
    split = spec.do_image_splitting
    if policy.min_pixels is not None and policy.min_pixels > spec.longest_edge**2:
        split = True
    if policy.max_tiles is not None and policy.max_tiles < SPLIT_CROPS:
        split = False
    edge = spec.longest_edge
    if policy.max_pixels is not None:
        if policy.max_pixels < spec.patch_size**2:
            raise ConfigError(
                f"--max-pixels {policy.max_pixels} is below one {spec.patch_size}x{spec.patch_size} patch "
                f"({spec.patch_size**2} px) of this model's vision tower."
            )
        if split and policy.max_pixels < (SPLIT_CROPS + 1) * spec.shortest_edge**2:  # the whole image counts
            split = False
        for width, height in sizes:
            edge = min(edge, _fitting_edge(spec, width=width, height=height, split=split, budget=policy.max_pixels))
    return Idefics2Settings(do_image_splitting=split, shortest_edge=min(spec.shortest_edge, edge), longest_edge=edge)


def plan_idefics2(spec: Idefics2Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on an Idefics2 model under `policy`, alone in
    its prompt (the adapter plans a prompt's images with the one setting they share)."""
    for value in (width, height):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"image sides must be positive integers, not {width}x{height}.")
    settings = idefics2_settings(spec, policy, [(width, height)])
    views = idefics2_views(
        width=width,
        height=height,
        split=settings.do_image_splitting,
        shortest_edge=settings.shortest_edge,
        longest_edge=settings.longest_edge,
    )
    if settings.do_image_splitting:
        (w_tl, h_tl), (w_tr, _), (_, h_bl) = views[0], views[1], views[2]
        resized, grid = (w_tl + w_tr, h_tl + h_bl), (2, 2)
    else:
        resized, grid = views[0], (1, 1)
    return ImagePlan(
        width=width,
        height=height,
        resized=resized,
        grid=grid,
        tiles=len(views),
        visual_tokens=len(views) * spec.image_seq_len,
    )


def idefics2_prompt_tokens(*, image_seq_len: int, split: bool) -> int:
    """Prompt tokens of one image alone, markers included: each view is `<fake>` + `<image>` *
    image_seq_len, and one closing `<fake>` (adjacent markers are merged)."""
    views = SPLIT_CROPS + 1 if split else 1
    return views * (image_seq_len + 1) + 1
