"""HDR stills (AVIF or HEIF coded with PQ or HLG) shown as their SDR rendition, as video is.

Lightroom's and Chrome's HDR exports, and cameras that save HDR AVIF, code the picture with
the PQ or HLG transfer (their `colr` box says so, type `nclx`). Pillow's AVIF plugin (and
pillow-heif) hand back 8-bit R'G'B' still in that coding; taken as sRGB it is dark and
flat (a PQ AVIF of a photo: mean error 37 of 255 against the photo). `to_sdr_picture` undoes
the transfer and tone-maps it exactly as HDR video frames are (`video.hdr.to_sdr`), from the
8-bit signal: PQ spends about 150 of its 256 codes below SDR white, so banding stays below
what a vision model resolves.

    transfer = hdr_coding(data)          # (Transfer, Primaries) from the file's nclx box, or None
    picture = to_sdr_picture(image, *transfer)
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from vlmcli.video.hdr import Primaries, Transfer

if TYPE_CHECKING:
    from PIL import Image

_NCLX = b"colrnclx"
_SEARCHED = 1 << 20
"""The metadata of an AVIF/HEIF file sits before its image data; 1 MiB is ample."""
_TRANSFERS = {16: Transfer.PQ, 18: Transfer.HLG}  # ITU-T H.273 TransferCharacteristics
_PRIMARIES = {9: Primaries.BT2020, 12: Primaries.P3, 1: Primaries.BT709}  # H.273 ColourPrimaries


def hdr_coding(data: bytes) -> tuple[Transfer, Primaries] | None:
    """The HDR transfer and primaries an AVIF/HEIF file's `colr` (nclx) box states; None for
    an SDR picture, one without such a box, or primaries this reader does not know."""
    at = data.find(_NCLX, 0, _SEARCHED)
    if at < 0 or at + len(_NCLX) + 6 > len(data):
        return None
    primaries, transfer = struct.unpack_from(">HH", data, at + len(_NCLX))
    if transfer not in _TRANSFERS or primaries not in _PRIMARIES:
        return None
    return _TRANSFERS[transfer], _PRIMARIES[primaries]


def to_sdr_picture(image: "Image.Image", transfer: Transfer, primaries: Primaries) -> "Image.Image":
    """`image` (8-bit RGB or RGBA holding the HDR signal) as its SDR rendition, alpha kept."""
    from PIL import Image

    from vlmcli.video.hdr import to_sdr

    rgb = image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image
    signal = np.asarray(rgb)[..., :3].astype(np.float32) / 255.0  # (H, W, 3)
    sdr = Image.fromarray(to_sdr(signal, transfer, primaries=primaries), "RGB")  # (H, W, 3) uint8
    if image.mode == "RGBA":
        sdr.putalpha(image.getchannel("A"))
    sdr.info = {k: v for k, v in image.info.items() if k != "icc_profile"}  # nclx, not ICC, said what it means
    return sdr
