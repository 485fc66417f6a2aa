"""Pictures in another RGB space than sRGB, shown in sRGB as a colour-managed viewer shows them.

A camera set to Adobe RGB, a Mac's "Generic RGB", ColorMatch and ProPhoto exports, an
iPhone's Display P3 photo: the pixel values mean other colours than sRGB's, and the ICC
profile embedded in the file says which. Read as sRGB (what `convert("RGB")` and the model
processors do) the picture is washed out or shifted: Adobe RGB's (200, 60, 40) brick red is
sRGB's (231, 57, 34), its (120, 140, 90) olive sRGB's (111, 141, 86). Browsers and
photo viewers convert through the profile; so does `to_srgb`, with LittleCMS (Pillow's
ImageCms): relative colorimetric, the matrix maths for the profiles cameras write.

CMYK pictures (print workflows, product photos from catalogues: Photoshop embeds the press
profile, e.g. U.S. Web Coated SWOP) are converted through their CMYK profile too, with its
perceptual table as Chrome and Preview show them (LittleCMS scales the press's darkest
black to sRGB black): Pillow's own `convert("RGB")` takes each ink for a pure primary, so
cyan ink, sRGB (0, 147, 200) through a SWOP-like profile, became (0, 255, 255). A CMYK
picture without a profile keeps Pillow's conversion (what browsers do for untagged CMYK).

A profile that is sRGB (by its description) costs nothing; a profile LittleCMS cannot read
(damaged, or for another kind of device) leaves the picture as it was: the file's pixels are
still the best guess, and the profile is not worth refusing the picture for.

    picture = to_srgb(Image.open(path))   # RGB, RGBA, palette or CMYK made RGB(A); other modes as they are
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("vlmcli.media")

MANAGED_MODES = frozenset({"RGB", "RGBA", "CMYK"})
_PROFILE_SPACE = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}
"""The ICC colour space a profile must describe to apply to pictures of each mode."""
_OUT_MODE = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}


def to_srgb(image: "Image.Image") -> "Image.Image":
    """`image` converted from its embedded ICC profile's space to sRGB (a CMYK picture becomes
    RGB); `image` itself when it has no profile, an sRGB one, one LittleCMS cannot use or one
    for another colour space than the picture's, or a mode other than RGB/RGBA/P/CMYK (a palette
    picture with a profile comes back RGB or RGBA)."""
    icc = image.info.get("icc_profile")
    if icc and image.mode == "P":  # a palette picture's colours are in the profile's space too
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if not icc or image.mode not in MANAGED_MODES:
        return image
    transform = _transform(hashlib.sha256(icc).hexdigest(), icc, image.mode)
    if transform is None:
        return image
    from PIL import ImageCms

    converted = ImageCms.applyTransform(image, transform)
    converted.info = {k: v for k, v in image.info.items() if k != "icc_profile"}
    return converted


@functools.lru_cache(maxsize=32)
def _transform(digest: str, icc: bytes, mode: str) -> Any:
    """A cached LittleCMS transform from `icc` to sRGB for `mode` images; None when `icc` is
    sRGB already, unusable, or not for `mode`'s colour space. `digest` keys the cache (the
    profile's SHA-256)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(source) or ""
        if "srgb" in description.lower() or ImageCms.getProfileInfo(source).strip().lower().startswith("srgb"):
            return None
        if source.profile.xcolor_space.strip() != _PROFILE_SPACE[mode]:
            return None  # e.g. a CMYK, grey or Lab profile on an RGB picture: mislabelled, leave it
        intent = ImageCms.Intent.PERCEPTUAL if mode == "CMYK" else ImageCms.Intent.RELATIVE_COLORIMETRIC
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, _OUT_MODE[mode], renderingIntent=intent)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError) as exc:
        log.debug("an ICC profile LittleCMS cannot use (%s): the pixels are read as sRGB", exc)
        return None
