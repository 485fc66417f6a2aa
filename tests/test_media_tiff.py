"""TIFFs from scientific and imaging programs (written here by tifffile, as ImageJ, GDAL and
microscope software write them): what Pillow reads is read; what it cannot (several float
samples, 64-bit floats) is refused as what it is, not as "damaged or truncated"."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmcli.errors import InputError
from vlmcli.media.images import load_image
from vlmcli.media.tiff_layout import TiffLayout, tiff_layout

tifffile = pytest.importorskip("tifffile")
RGB = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)  # (H, W, 3)


@pytest.mark.parametrize(
    ("write", "layout"),
    [
        (dict(data=RGB), TiffLayout(3, 8, 1)),
        (dict(data=RGB, bigtiff=True, byteorder=">"), TiffLayout(3, 8, 1)),
        (dict(data=RGB.astype(np.uint16) * 257, tile=(16, 16)), TiffLayout(3, 16, 1)),
        (dict(data=RGB.astype(np.float32) / 255), TiffLayout(3, 32, 3)),
        (dict(data=RGB[..., 0].astype(np.float64)), TiffLayout(1, 64, 3)),
        (dict(data=RGB[..., 0].astype(np.int32), byteorder=">"), TiffLayout(1, 32, 2)),
    ],
)
def test_the_layout_is_read_from_the_header(tmp_path, write, layout):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, **write)
    assert tiff_layout(path.read_bytes()) == layout


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (RGB.astype(np.float32) / 255, "x.tif is a TIFF with 3 samples of 32-bit floating-point per pixel, which Pillow cannot read"),
        (RGB[..., 0].astype(np.float64), "x.tif is a TIFF with 1 sample of 64-bit floating-point per pixel"),
    ],
)
def test_a_layout_pillow_cannot_read_is_named(tmp_path, data, needle):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, data, bigtiff=data.dtype == np.float64)
    with pytest.raises(InputError) as err:
        load_image(path)
    assert needle in str(err.value) and "save it with 8- or 16-bit samples first" in str(err.value)
    assert "damaged" not in str(err.value)


@pytest.mark.parametrize(
    "write",
    [dict(data=RGB, bigtiff=True), dict(data=RGB, tile=(16, 16)), dict(data=np.moveaxis(RGB, -1, 0), planarconfig="separate", photometric="rgb"),
     dict(data=RGB[..., 0].astype(np.float32)), dict(data=RGB[..., 0].astype(np.int32))],
)
def test_what_pillow_reads_is_read(tmp_path, write):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, **write)
    image = load_image(path).image
    assert image.mode == "RGB" and image.size == (32, 24)


def test_a_truncated_tiff_is_still_damaged(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, RGB.astype(np.float32))
    path.write_bytes(path.read_bytes()[:12])  # the directory is gone
    assert tiff_layout(path.read_bytes()) is None
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image(path)


@given(st.binary(max_size=200))
def test_tiff_layout_never_fails(data):
    for head in (data, b"II*\x00" + data, b"MM\x00+" + data):
        assert tiff_layout(head) is None or isinstance(tiff_layout(head), TiffLayout)
