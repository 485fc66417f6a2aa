"""Interlaced video (broadcast TS, camcorder AVCHD, DV) reaches the model deinterlaced: each
frame is its first-shown field, the scene at the frame's timestamp. Read woven, a panned
photo came back combed (mean error 7-10 of 255 against the scene); its first field: 3-5."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from vlmcli.testing.fakes import real_photo
from vlmcli.testing.media.interlaced_clips import DV_SIZE, SIZE, scene, write_interlaced_clip
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.video.backends import READERS, Decoder, choose_decoder, open_video
from vlmcli.video.decode import probe, read_frames
from vlmcli.video.stream_facts import StreamFacts, inspect_video
from vlmcli.video.interlace import Field, FieldReader, first_field, full_height, keep_field

# -- pure ----------------------------------------------------------------------------------


def test_field_shown_first_follows_ffmpegs_field_order():
    assert first_field(2) is Field.TOP  # TT
    assert first_field(3) is Field.BOTTOM  # BB (DV)
    assert first_field(4) is Field.BOTTOM  # TB: top coded first, bottom shown first
    assert first_field(5) is Field.TOP  # BT
    assert first_field(1) is None and first_field(1, frame_interlaced=True) is None  # progressive
    assert first_field(0) is None and first_field(None) is None
    assert first_field(0, frame_interlaced=True) is Field.TOP  # order unknown, frame flagged
    assert first_field(0, frame_interlaced=True, codec="dvvideo", height=576) is Field.BOTTOM  # DV: bottom first
    assert first_field(0, frame_interlaced=True, codec="dvvideo", height=1080) is Field.TOP  # DVCPRO HD


def test_keep_field_takes_every_other_line_and_scales_to_the_frame_size():
    woven = np.zeros((2, 8, 6, 3), dtype=np.uint8)  # (N, H, W, 3)
    woven[:, 0::2] = 40  # top field
    woven[:, 1::2] = 200  # bottom field
    top = keep_field(woven, Field.TOP, (6, 8))
    bottom = keep_field(woven, Field.BOTTOM, (3, 4))
    assert top.shape == (2, 8, 6, 3) and (top == 40).all()
    assert bottom.shape == (2, 4, 3, 3) and (bottom == 200).all()


def test_full_height_keeps_every_line_and_the_width_asked():
    assert full_height((384, 216), (1920, 1080)) == (384, 1080)
    assert full_height(None, (1920, 1080)) is None  # native already
    assert full_height((1920, 540), (1920, 1080)) is None


def test_an_interlaced_turned_stream_goes_to_pyav_which_takes_fields_before_turning():
    facts = StreamFacts(container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", stream=0, width=64, height=48,
                        fps=25.0, header_frames=0, first_field="top")
    assert choose_decoder(facts).decoder is Decoder.DECORD
    assert choose_decoder(replace(facts, rotation=-90.0)).decoder is Decoder.PYAV


# -- real clips ------------------------------------------------------------------------------

CLIPS = [("h264", "top", "mp4", "decord"), ("h264", "bottom", "mp4", "decord"),
         ("mpeg2", "top", "ts", "pyav"), ("mpeg2", "bottom", "ts", "pyav"), ("dv", "bottom", "avi", "pyav")]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return real_photo("astronaut")


@pytest.fixture(scope="module")
def truth(photo) -> dict:
    """(100, H, W, 3) at 50 pictures/s by window size: frame k's first field is truth[2k]."""
    return {SIZE: scene(picture=photo), DV_SIZE: scene(picture=photo, size=DV_SIZE)}


@pytest.fixture(scope="module")
def clips(photo, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("interlaced")
    return {
        (codec, first): write_interlaced_clip(folder / f"{codec}_{first}.{ext}", picture=photo, codec=codec, first=first)
        for codec, first, ext, _ in CLIPS
    }


def _error(pixels: np.ndarray, picture: np.ndarray) -> float:
    size = (pixels.shape[1], pixels.shape[0])
    expected = np.asarray(Image.fromarray(picture).resize(size, Image.BILINEAR))
    return float(np.abs(pixels.astype(int) - expected.astype(int)).mean())


@pytest.mark.parametrize(("codec", "first", "ext", "decoder"), CLIPS)
@pytest.mark.parametrize("max_side", [None, 160])
def test_each_frame_is_its_first_field_as_the_scene_showed_it(clips, truth, codec, first, ext, decoder, max_side):
    path = clips[codec, first]
    assert inspect_video(str(path)).first_field == first
    info = probe(path)
    native = DV_SIZE if codec == "dv" else SIZE
    assert (info.decoder, info.width, info.height) == (decoder, *native)
    frames = read_frames(path, [5, 20, 40], max_side=max_side, info=info)
    size = (frames.pixels.shape[2], frames.pixels.shape[1])
    assert size == (native if max_side is None else (160, round(160 * native[1] / native[0])))
    truth = truth[native]
    woven = READERS[Decoder(decoder)](str(path), None if max_side is None else size).read(np.array(frames.indices))
    for pixels, combed, k in zip(frames.pixels, woven, frames.indices):
        shown = _error(pixels, truth[2 * k])
        assert shown < 6.0  # the scene at the frame's time, within coding error
        assert shown < 0.75 * _error(combed, truth[2 * k])  # read woven, motion is combed
        assert shown < 0.5 * _error(pixels, truth[2 * k + 1])  # the field shown first, not the second


def test_the_reason_says_the_stream_is_interlaced(clips, caplog):
    caplog.set_level("DEBUG", logger="vlmcli.video")
    reader = open_video(str(clips["mpeg2", "bottom"]), (160, 120))
    assert isinstance(reader, FieldReader) and reader.field is Field.BOTTOM
    assert "interlaced: the bottom field of each frame is kept" in reader.decoder_reason
    assert "interlaced" in caplog.text


def test_progressive_video_is_read_as_it_was():
    motion = str(clip_set().motion.path)
    assert inspect_video(motion).first_field is None
    assert not isinstance(open_video(motion, None), FieldReader)
