"""Telling videos from images by magic bytes and extension."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmcli.media.kinds import MediaKind, detect_kind


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("clip.bin", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", MediaKind.VIDEO),
        ("clip", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", MediaKind.VIDEO),
        ("x.dat", b"RIFF\x00\x00\x00\x00AVI LIST", MediaKind.VIDEO),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", MediaKind.IMAGE),
        ("clip.mp4", b"", MediaKind.VIDEO),
        ("CLIP.MOV", b"", MediaKind.VIDEO),
        ("really-a-photo.mp4", b"\xff\xd8\xff\xe0\x00\x10JFIF", MediaKind.IMAGE),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", MediaKind.IMAGE),
        ("a.png", b"\x89PNG\r\n\x1a\n\x00", MediaKind.IMAGE),
        ("notes.txt", b"hello", MediaKind.UNKNOWN),
    ],
)
def test_detect_kind(name, head, kind):
    assert detect_kind(name, head) is kind


@given(st.text(max_size=30), st.binary(max_size=64))
def test_detect_kind_never_fails(name, head):
    assert isinstance(detect_kind(name, head), MediaKind)
