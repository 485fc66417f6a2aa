"""Pictures tagged with an ICC profile other than sRGB (a camera set to Adobe RGB, a wide-gamut
P3 export, Apple's Generic RGB) are shown in sRGB as colour-managed viewers show them. Before,
their values were read as sRGB: Adobe RGB's brick red (200, 60, 40) reached the model as that,
where the colour is sRGB's (231, 57, 34). Checked against the conversion done in plain numpy
from the spaces' chromaticities (`testing/media/icc.py`), with profiles written byte by byte."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import real_photo
from vlmcli.testing.media.icc import (
    ADOBE_RGB, INKS_LAB, WIDE_P3, cmyk_profile, cmyk_to_srgb_reference, lab_to_srgb_reference, rgb_profile, to_srgb_reference,
)

COLOURS = np.array([[[0, 200, 0], [120, 140, 90], [200, 60, 40], [128, 128, 128], [250, 250, 250], [30, 60, 200]]], np.uint8)


def _png(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("space", [ADOBE_RGB, WIDE_P3], ids=["adobe-rgb", "p3"])
def test_a_tagged_picture_is_converted_to_srgb(space):
    read = np.asarray(decode_image(_png(COLOURS, icc_profile=rgb_profile(space)), "tagged.png")).astype(float)
    expected = to_srgb_reference(COLOURS, space)
    assert np.abs(read - expected).max() <= 1.0
    assert np.abs(read - COLOURS).max() >= 20  # read as sRGB it was visibly off


def test_a_photo_in_adobe_rgb_differs_from_its_values_read_as_srgb():
    photo = np.asarray(real_photo("coffee"))
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=95, icc_profile=rgb_profile(ADOBE_RGB))
    read = np.asarray(decode_image(buffer.getvalue(), "camera.jpg")).astype(float)
    plain = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).astype(float)
    expected = to_srgb_reference(plain.astype(np.uint8), ADOBE_RGB)
    assert np.abs(read - expected).mean() < 1.0 and np.abs(read - plain).mean() > 3.0


def test_srgb_profiles_bad_profiles_and_alpha():
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    untagged = np.asarray(decode_image(_png(COLOURS), "plain.png"))
    assert (np.asarray(decode_image(_png(COLOURS, icc_profile=srgb), "srgb.png")) == untagged).all()
    broken = _png(COLOURS, icc_profile=b"not a profile" * 10)
    assert (np.asarray(decode_image(broken, "broken-profile.png")) == untagged).all()  # read, not refused
    rgba = np.dstack([COLOURS, np.full(COLOURS.shape[:2], 255, np.uint8)])
    rgba[0, 0, 3] = 0  # one transparent pixel: on white, after the conversion
    read = np.asarray(decode_image(_png(rgba, icc_profile=rgb_profile(ADOBE_RGB)), "rgba.png")).astype(float)
    assert (read[0, 0] == 255).all() and np.abs(read[0, 1:] - to_srgb_reference(COLOURS, ADOBE_RGB)[0, 1:]).max() <= 1.0


# --- CMYK (print workflows, catalogue photos) --------------------------------------------------

INKS = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0), (255, 255, 0, 0), (255, 255, 255, 0)]


def _cmyk(fmt: str, **options) -> bytes:
    """Seven 8x8 patches, one per ink mix in `INKS`, in a CMYK JPEG (Adobe's inverted
    convention, as Photoshop writes it) or TIFF."""
    image = Image.new("CMYK", (8 * len(INKS), 8))
    for i, inks in enumerate(INKS):
        image.paste(inks, (8 * i, 0, 8 * i + 8, 8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}), **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_a_cmyk_picture_is_shown_through_its_profile(fmt):
    """Before: Pillow's convert("RGB") took each ink for a pure primary (cyan ink -> (0, 255, 255))."""
    read = np.asarray(decode_image(_cmyk(fmt, icc_profile=cmyk_profile()), f"catalogue.{fmt.lower()}")).astype(float)
    patches = read[4, 4::8]  # (7, 3) the middle of each patch
    expected = np.stack([cmyk_to_srgb_reference(inks) for inks in INKS])  # (7, 3)
    assert np.abs(patches - expected).max() <= 2.0
    assert tuple(patches[0].round()) != (0, 255, 255) and patches[0][1] < 160  # cyan ink, not sRGB cyan
    assert tuple(patches[3]) == (0, 0, 0) and tuple(patches[4]) == (255, 255, 255)  # black ink is black, paper white


def test_untagged_or_mislabelled_cmyk_keeps_pillows_conversion():
    plain = np.asarray(Image.open(io.BytesIO(_cmyk("TIFF"))).convert("RGB"))
    assert (np.asarray(decode_image(_cmyk("TIFF"), "untagged.tif")) == plain).all()
    mislabelled = _cmyk("TIFF", icc_profile=rgb_profile(ADOBE_RGB))  # an RGB profile on CMYK pixels
    assert (np.asarray(decode_image(mislabelled, "mislabelled.tif")) == plain).all()
    rgb_tagged_cmyk = _png(COLOURS, icc_profile=cmyk_profile())  # and a CMYK profile on RGB pixels
    assert (np.asarray(decode_image(rgb_tagged_cmyk, "odd.png")) == COLOURS).all()


def test_the_test_profile_means_what_it_says():
    """The reference is plain colorimetry: LittleCMS's relative intent (no black scaling) gives
    the profile's Lab as sRGB within one level, so the profile is written as intended."""
    from PIL import ImageCms

    source = ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile()))
    transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "CMYK", "RGB",
                                        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    cyan = Image.new("CMYK", (1, 1), (255, 0, 0, 0))
    measured = np.array(ImageCms.applyTransform(cyan, transform).getpixel((0, 0)), float)
    assert np.abs(measured - lab_to_srgb_reference(np.array(INKS_LAB["cyan"]))).max() <= 1.5


def test_a_palette_picture_with_a_profile_is_converted_too():
    """A P-mode PNG tagged Adobe RGB reached the model unconverted (its RGB twin was converted)."""
    palette = Image.fromarray(COLOURS).quantize(colors=16, method=Image.Quantize.MAXCOVERAGE)
    assert palette.mode == "P"
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", icc_profile=rgb_profile(ADOBE_RGB))
    plain = np.asarray(palette.convert("RGB"))
    read = np.asarray(decode_image(buffer.getvalue(), "palette.png")).astype(float)
    assert np.abs(read - to_srgb_reference(plain, ADOBE_RGB)).max() <= 1.0
