"""Video with an alpha channel: transparency laid on white, as for pictures and animations.

Chat stickers (Telegram's are VP9 WebM with alpha), motion-graphics exports (ProRes 4444,
QuickTime Animation, PNG in MOV) and screen recordings with transparency store a colour
under every transparent pixel that nobody is meant to see: often black, sometimes the
encoder's leftover. Converted straight to RGB the model sees that colour, while the same
sticker as an animated WebP (`decode_pillow.py`) or a still PNG (`media.images.to_rgb`) shows
white. Here too transparency is composed on white, so the three agree.

Two ways a stream carries alpha:
- in its pictures: the decoder returns a pixel format with an alpha plane (ProRes 4444
  `yuva444p10le`, QuickTime Animation `argb`, PNG `rgba`, FFV1 `yuva420p`);
- beside them (VP8/VP9 in WebM/Matroska, flagged `alpha_mode=1`): the alpha is a second
  VP8/VP9 picture in each block's BlockAdditional, which only libvpx's decoder reads
  (ffmpeg's own VP9 decoder drops it). `side_decoder` names that decoder.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vlmcli.media.names import display_name

log = logging.getLogger("vlmcli.video")

BACKGROUND = 255
"""Transparent pixels become white (`media.images` does the same for pictures)."""

SIDE_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
"""ffmpeg's own VP8/VP9 decoders drop the alpha that WebM keeps beside each picture; these read it."""


def pixel_format_has_alpha(pix_fmt: str | None) -> bool:
    """Whether frames in ffmpeg pixel format `pix_fmt` carry an alpha plane."""
    if not pix_fmt:
        return False
    import av

    try:
        components = av.VideoFormat(pix_fmt).components
    except (ValueError, TypeError):
        return False
    return any(component.is_alpha for component in components)


def side_decoder(codec: str, metadata: dict[str, str], *, path: str) -> str | None:
    """The libvpx decoder that reads a VP8/VP9 stream's alpha (`alpha_mode=1` in its
    Matroska header), or None when the stream has no such alpha. A stream with alpha that
    this PyAV cannot decode is read without it, with a warning saying so."""
    if str(metadata.get("alpha_mode", "0")).strip() != "1" or codec not in SIDE_ALPHA_DECODERS:
        return None
    import av

    name = SIDE_ALPHA_DECODERS[codec]
    if name not in av.codecs_available:
        log.warning(
            "%s: its %s stream has an alpha channel, but this PyAV's ffmpeg has no %s decoder to read it: "
            "transparent parts show the colour stored under them", display_name(path), codec.upper(), name,
        )
        return None
    return name


def new_side_decoder(name: str, stream: Any) -> Any:
    """A fresh libvpx decoder context for `stream`'s packets (they keep their alpha side data)."""
    import av

    ctx = av.CodecContext.create(name, "r")
    if stream.codec_context.extradata:
        ctx.extradata = stream.codec_context.extradata
    return ctx


def on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 straight (not premultiplied) alpha -> (H, W, 3) uint8 over white,
    rounded as Pillow's `alpha_composite` onto an opaque white picture rounds."""
    colour = rgba[..., :3].astype(np.uint16)  # (H, W, 3)
    alpha = rgba[..., 3:4].astype(np.uint16)  # (H, W, 1)
    mixed = colour * alpha + BACKGROUND * (255 - alpha)  # (H, W, 3), at most 255 * 255
    return ((mixed + 127) // 255).astype(np.uint8)  # (H, W, 3)
