"""Which decoder reads a video, chosen per file: decord where it is exact, PyAV for the rest.

decord is fast, but measured on clips of every common codec and container
(tests/test_video_codecs.py) it is frame-exact only for H.264, VP8, VP9 and MJPEG in
MP4/MOV/MKV/WebM. Elsewhere it fails or is wrong:

- AV1: decord's ffmpeg has no AV1 decoder, so it reports "cannot find video stream";
- WebM/MKV written as a stream (no duration, no cues: browser and OBS recordings):
  "Failed to measure duration/frame-count";
- MPEG-PS (.mpg) and MPEG-TS (.ts): seeking returns frames a few positions off (TS even
  reading in order);
- AVI: no presentation timestamps, so B-frame video seeks to the wrong frames;
- HEVC with open GOPs (x265's default): seeking returns the wrong frames;
- MP4/MOV trimmed without re-encoding (an edit list hides the pictures before the cut):
  every frame read is the one after the one its timestamp names.
- VP8/VP9 with alpha in WebM (stickers): decord drops the alpha kept beside each picture
  (`alpha.py`: PyAV reads it with libvpx and lays transparency on white).

Animated pictures (GIF, WebP, APNG) are read by Pillow (`decode_pillow.py`), recognised by
their first bytes. For videos, `open_video` (the default `Opener`) reads the container header with PyAV, picks the
decoder with `choose_decoder` (pure, a table), and falls back per file to PyAV when decord
cannot open a file or fails to decode it. The choice and its reason are on the reader
(`decoder`, `decoder_reason`), in `VideoInfo.decoder`, and in the `--debug` log (logger
`vlmcli.video`). If one backend is not installed the other is used alone (decord has wheels
only for Linux x86_64 and Windows, so on Apple silicon, ARM Linux and Intel macs PyAV reads
every video); with neither, a `BackendUnavailableError` says what to install.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmcli.errors import BackendUnavailableError, VideoError
from vlmcli.media.animation import picture_format
from vlmcli.media.names import display_name
from vlmcli.video.decode_decord import DecordReader
from vlmcli.video.decode_pillow import AnimationReader
from vlmcli.video.decode_pyav import PyAVReader, check_whole
from vlmcli.video.interlace import Field, FieldReader, full_height
from vlmcli.video.matroska import cut_short
from vlmcli.video.rotation import RotatedReader, quarter_turns, stored_size
from vlmcli.video.reasons import reason_of
from vlmcli.video.stream_facts import StreamFacts, inspect_video

log = logging.getLogger("vlmcli.video")


class Decoder(str, enum.Enum):
    DECORD = "decord"
    PYAV = "pyav"
    PILLOW = "pillow"


READERS: dict[Decoder, Callable[[str, "tuple[int, int] | None"], Any]] = {
    Decoder.DECORD: DecordReader,
    Decoder.PYAV: PyAVReader,
    Decoder.PILLOW: AnimationReader,
}
"""The readers behind each decoder: (path, (width, height) or None) -> `FrameReader`."""

DECORD_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
"""PyAV demuxer names of the containers decord seeks in exactly (for `DECORD_CODECS`)."""
DECORD_CODECS = frozenset({"h264", "vp8", "vp9", "mjpeg"})
"""Video decoders (PyAV names) whose streams decord decodes frame-exactly in those containers."""

_CONTAINER_REASONS = {
    "mpeg": "decord seeks inexactly in MPEG-PS",
    "mpegts": "decord seeks inexactly in MPEG-TS",
    "avi": "decord cannot seek exactly in AVI (no presentation timestamps)",
}
_CODEC_REASONS = {
    "av1": "decord has no AV1 decoder",
    "libdav1d": "decord has no AV1 decoder",
    "libaom-av1": "decord has no AV1 decoder",
    "hevc": "decord seeks inexactly in HEVC with open GOPs",
}


@dataclass(frozen=True)
class Choice:
    """The decoder for one file and why (one clause, for `--debug`)."""

    decoder: Decoder
    reason: str


def choose_decoder(facts: StreamFacts) -> Choice:
    """decord for the codec/container pairs it reads exactly, PyAV for everything else."""
    if facts.trimmed:
        return Choice(Decoder.PYAV, "an edit list hides its first pictures (a trim without re-encoding): decord reads such files one frame off")
    if facts.transfer is not None:
        return Choice(Decoder.PYAV, f"HDR ({facts.transfer.upper()}): PyAV decodes it at 16 bits, tone-mapped to SDR")
    if facts.alpha:
        how = f"{facts.alpha_decoder} reads its alpha" if facts.alpha_decoder else "its frames keep their alpha"
        return Choice(Decoder.PYAV, f"it has an alpha channel ({how}): transparency is laid on white, as for pictures")
    if facts.first_field is not None and quarter_turns(facts.rotation):
        return Choice(Decoder.PYAV, "interlaced and turned: decord turns frames before their fields can be taken apart")
    if facts.container in DECORD_CONTAINERS and facts.codec in DECORD_CODECS:
        return Choice(Decoder.DECORD, f"{facts.codec} in {facts.container.split(',')[0]}: decord is exact")
    reason = _CODEC_REASONS.get(facts.codec) or _CONTAINER_REASONS.get(facts.container)
    if reason is None:
        reason = f"decord is not checked exact for {facts.codec} in {facts.container.split(',')[0]}"
    return Choice(Decoder.PYAV, reason)


def open_video(path: str, size: tuple[int, int] | None) -> Any:
    """The default `Opener`: the right decoder for `path`, decoding at `size` (or native)."""
    with open(path, "rb") as handle:
        picture = picture_format(handle.read(16))
    if picture is not None:  # GIF, WebP, APNG: composed frame by frame (decode_pillow.py)
        return _note(path, _open(Decoder.PILLOW, path, size), f"a {picture} picture: Pillow composes its frames")
    try:
        facts = inspect_video(path)
    except BackendUnavailableError as no_pyav:  # no PyAV: decord alone (it raises its own errors)
        try:
            reader = _open(Decoder.DECORD, path, size)
        except BackendUnavailableError:
            raise BackendUnavailableError(
                "Reading video needs PyAV (or decord); install it with `pip install av`."
            ) from no_pyav
        return _note(path, reader, "PyAV is not installed")
    if facts.container.startswith("matroska") and (clause := cut_short(path)) is not None:
        raise VideoError(f"Could not open {display_name(path)}: {clause}.")  # read whole, it was a shorter video
    choice = choose_decoder(facts)
    turns = quarter_turns(facts.rotation)
    field = Field(facts.first_field) if facts.first_field else None
    native = (facts.width, facts.height)
    if choice.decoder is Decoder.DECORD:  # never turned when interlaced (choose_decoder)
        decode_size = full_height(size, native) if field else size
        try:
            reader = _open(Decoder.DECORD, path, decode_size)
        except BackendUnavailableError:  # no decord wheel for this platform (pyproject.toml): PyAV reads it
            choice = Choice(Decoder.PYAV, "decord is not installed")
        except VideoError as exc:
            choice = Choice(Decoder.PYAV, f"decord could not open it: {_clause(exc)}")
        else:
            check_whole(path, frames=int(reader.frame_count), end_s=float(reader.end_time()), facts=facts)
            reader = DecordThenPyAV(reader, path, decode_size, turns=turns)
            return _note(path, FieldReader(reader, field, size) if field else reader, _described(choice.reason, turns, field))
    reader = _open(Decoder.PYAV, path, size, turns=turns, field=field, native=native)
    return _note(path, reader, _described(choice.reason, turns, field))


def _described(reason: str, turns: int, field: Field | None) -> str:
    if field is not None:
        reason += f"; interlaced: the {field.value} field of each frame is kept"
    if turns:
        reason += f"; turned {90 * turns} degrees counter-clockwise (the container's display rotation)"
    return reason


class DecordThenPyAV:
    """A `DecordReader` that hands over to a `PyAVReader` for good if decord fails to decode.

    decord opens some files it then cannot decode (or decode at the requested size); PyAV
    reads the same frames by timestamp. If PyAV fails too, its error is the one raised.
    """

    def __init__(self, decord: DecordReader, path: str, size: tuple[int, int] | None, *, turns: int = 0) -> None:
        self._active: Any = decord
        self._decord = decord
        self._path, self._size, self._turns = path, size, turns
        self.frame_count = decord.frame_count
        self.fps = decord.fps
        self.output_size = decord.output_size
        self.decoder_reason = ""

    @property
    def decoder(self) -> str:
        return str(self._active.decoder)

    @property
    def frames_decoded(self) -> int:
        return self._decord.frames_decoded + (self._active.frames_decoded if self._active is not self._decord else 0)

    def read(self, indices: np.ndarray) -> np.ndarray:
        if self._active is self._decord:
            try:
                return self._decord.read(indices)
            except Exception as exc:  # noqa: BLE001 - decord raises anything; PyAV retries
                reason = f"decord failed to decode it: {reason_of(exc)}"
                self._active = _open(Decoder.PYAV, self._path, self._size, turns=self._turns)
                _note(self._path, self, reason)
        return self._active.read(indices)

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return self._active.start_times(indices)

    def end_time(self) -> float:
        return self._active.end_time()

    def key_indices(self) -> np.ndarray:
        return self._active.key_indices()


def _open(
    decoder: Decoder, path: str, size: tuple[int, int] | None, *, turns: int = 0,
    field: Field | None = None, native: tuple[int, int] = (0, 0),
) -> Any:
    """A reader of `path` at display size `size`, frames upright. decord applies the container's
    display rotation itself (sizes included); PyAV's frames are turned here (`video.rotation`),
    after an interlaced stream's field is taken (`video.interlace`; `native`: its stored size)."""
    if decoder is not Decoder.PYAV:
        return READERS[decoder](path, size)
    stored = stored_size(size, turns)
    if field is not None:
        reader = FieldReader(READERS[decoder](path, full_height(stored, native)), field, stored)
    else:
        reader = READERS[decoder](path, stored)
    return RotatedReader(reader, turns) if turns else reader


def _note(path: str, reader: Any, reason: str) -> Any:
    """Record the decoder and its reason on the reader and in the debug log (one line per opening)."""
    reader.decoder_reason = reason
    width, height = reader.output_size
    log.debug("%s: %s reads it at %dx%d (%s)", display_name(path), reader.decoder, width, height, reason)
    return reader


def _clause(exc: BaseException) -> str:
    """decord's reason from a `VideoError` we raised around it ("... with decord (reason).")."""
    text = str(exc)
    return text[text.find("(") + 1 : text.rfind(")")] if "(" in text and text.endswith(").") else reason_of(exc)
