"""The decord backend: a decord `VideoReader` behind the `FrameReader` protocol.

decord indexes the container's packets when it opens a file (no decoding), then
`get_batch` seeks to each requested frame and decodes only from the preceding keyframe,
resizing inside the decoder (`width=`/`height=`). It is fast, but its seeking is exact only
for some codec/container pairs (`backends.py` says which, measured by
tests/test_video_codecs.py); the default opener uses PyAV for the rest.

decord's own exceptions (`RuntimeError`, `DECORDError`, even `AssertionError`) never leak:
a file decord cannot open becomes a `VideoError` quoting decord's reason, without guessing
a cause (decord says "cannot find video stream" for an AV1 stream it has no decoder for).
"""

from __future__ import annotations

import numpy as np

from vlmcli.video.pyav_container import ffmpeg_path
from vlmcli.errors import BackendUnavailableError, VideoError
from vlmcli.media.names import display_name
from vlmcli.media.quiet import native_stderr_filtered
from vlmcli.video.reasons import reason_of


class DecordReader:
    """A decord `VideoReader` behind the `FrameReader` protocol, with a decoded-frame counter.

    `frames_decoded` counts frames returned by `read` since opening; it is how a test proves
    that sparse reads decode exactly the requested frames.
    """

    decoder = "decord"

    def __init__(self, path: str, size: tuple[int, int] | None = None) -> None:
        decord = _import_decord()
        width, height = size if size is not None else (-1, -1)
        try:
            with native_stderr_filtered():
                self._vr = decord.VideoReader(ffmpeg_path(path), ctx=decord.cpu(0), width=width, height=height)
                self._pts = _all_timestamps(self._vr)  # (F, 2) start/end seconds
        except Exception as exc:  # decord raises RuntimeError, DECORDError or AssertionError
            raise VideoError(f"Could not open {display_name(path)} with decord ({reason_of(exc)}).") from exc
        # decord's len() trusts the container's nb_frames, which can over-report; the packet
        # index behind the timestamps is what is really there (decord issue #373: asking for a
        # frame past the real end can hang the decoder). Keep the smaller of the two.
        self.frame_count = min(len(self._vr), len(self._pts))
        self.fps = float(self._vr.get_avg_fps())
        empty = self._vr.get_batch([]).shape  # (0, H, W, 3): the output size, no decoding
        self.output_size = (int(empty[2]), int(empty[1]))
        self.frames_decoded = 0

    def read(self, indices: np.ndarray) -> np.ndarray:
        with native_stderr_filtered():
            pixels = self._vr.get_batch(indices.tolist()).asnumpy()  # (N, H, W, 3) uint8
        self.frames_decoded += int(pixels.shape[0])
        return pixels

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return self._pts[indices, 0].astype(np.float64)  # (N,)

    def end_time(self) -> float:
        return float(self._pts[self.frame_count - 1, 1])

    def key_indices(self) -> np.ndarray:
        """(K,) int64 keyframe indices from the container's index (no decoding); the scan
        snaps to these because seeking to a keyframe decodes just that frame."""
        keys = np.asarray(self._vr.get_key_indices(), dtype=np.int64)  # (K,)
        return keys[keys < self.frame_count]


def _all_timestamps(vr) -> np.ndarray:  # noqa: ANN001 - a decord VideoReader
    """(F, 2) start/end seconds of every indexed packet, even when F < len(vr)."""
    try:
        return vr.get_frame_timestamp(range(len(vr)))
    except IndexError:  # fewer packets than the container claims; decord cached them all
        vr.get_frame_timestamp([0])
        return vr._frame_pts  # noqa: SLF001 - the only way to the full packet index


_decord_ready = False


def _import_decord():  # noqa: ANN202 - returns the decord module
    """Import decord lazily (keeps CLI start-up fast) and silence ffmpeg's own logging."""
    global _decord_ready
    try:
        import decord
    except ImportError as exc:
        raise BackendUnavailableError(
            "Reading video with decord needs decord; install it with `pip install decord`."
        ) from exc
    if not _decord_ready:
        decord.logging.set_level(decord.logging.QUIET)
        _decord_ready = True
    return decord
