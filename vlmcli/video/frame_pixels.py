"""A decoded `av.VideoFrame` as (H, W, 3) uint8 RGB at the size the model wants.

Three paths, chosen by the stream's header facts (`stream_facts.StreamFacts`):
- SDR: swscale converts and scales in one step (bicubic, like decord);
- HDR (PQ, HLG): 16-bit RGB out of swscale, tone-mapped to SDR (`hdr.py`);
- alpha: composed on white at the stored size first (`alpha.py`), then scaled, so the
  colour hidden under transparent pixels never bleeds into the edges when scaling.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def frame_pixels(frame: Any, *, size: tuple[int, int], transfer: str | None = None, alpha: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 of `frame` at `size` = (width, height)."""
    from av.video.reformatter import Interpolation

    width, height = size
    if transfer is not None:  # HDR: 16 bits out of swscale, tone-mapped to SDR here
        from vlmcli.video.hdr import Transfer, to_sdr

        deep = frame.to_ndarray(format="rgb48le", width=width, height=height, interpolation=Interpolation.BICUBIC)
        return to_sdr(deep.astype(np.float32) / 65535.0, Transfer(transfer))  # (H, W, 3) uint8
    from vlmcli.video.alpha import on_white, pixel_format_has_alpha

    if alpha and pixel_format_has_alpha(frame.format.name):  # a libvpx picture without its alpha data is plain YUV
        import av

        flat = on_white(frame.to_ndarray(format="rgba"))  # (h, w, 3) at the stored size
        if flat.shape[1] == width and flat.shape[0] == height:
            return flat
        frame = av.VideoFrame.from_ndarray(flat, format="rgb24")
    return frame.to_ndarray(format="rgb24", width=width, height=height, interpolation=Interpolation.BICUBIC)  # (H, W, 3)

