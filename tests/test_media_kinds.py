"""Telling videos from images (and audio, to explain a refusal) by magic bytes and extension."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmcli.errors import InputError
from vlmcli.media import load_image
from vlmcli.media.kinds import MediaKind, audio_format, detect_kind, document_format


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
        ("Voice Memo.m4a", b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", MediaKind.UNKNOWN),  # audio, not a video
        ("book.m4b", b"\x00\x00\x00\x1cftypM4B \x00\x00\x02\x00", MediaKind.UNKNOWN),
        ("clip.ogg", b"OggS\x00\x02" + bytes(20) + b"\x01\x2a\x80theora\x03\x02", MediaKind.VIDEO),  # Theora named .ogg
        ("song.ogg", b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis\x00\x00", MediaKind.UNKNOWN),  # audio
        ("old", b".RMF\x00\x00\x00\x12\x00\x00", MediaKind.VIDEO),  # RealMedia
        ("old.rmvb", b"", MediaKind.VIDEO),
    ],
)
def test_detect_kind(name, head, kind):
    assert detect_kind(name, head) is kind


@pytest.mark.parametrize(("name", "args"), [("theora.ogg", ["-c:v", "libtheora", "-q:v", "7"]), ("real.rm", ["-c:v", "rv20"])])
def test_old_and_ambiguous_containers_are_videos_by_content(tmp_path, name, args):
    """A Theora video named .ogg was ignored as audio; RealMedia (.rm) was ignored as unknown."""
    import subprocess

    from vlmcli.captions.discover import Candidate
    from vlmcli.captions.probe import probe
    from vlmcli.testing.media.codec_clips import encoders
    from vlmcli.testing.media.video_clips import ffmpeg_exe, read_index, render_indexed
    from vlmcli.video.decode import read_frames

    if args[1] not in encoders():
        pytest.skip(f"this ffmpeg has no {args[1]} encoder")
    path = tmp_path / name
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", "64x48", "-r", "25", "-i", "-", *args, "-g", "10", str(path)],
        input=render_indexed(30).tobytes(), check=True,
    )  # fmt: skip
    found = probe(Candidate(str(path), explicit=False), videos=True)
    assert found is not None and found.kind == "video" and found.error is None and found.video.frame_count == 30
    pixels = read_frames(path, [0, 17, 29], max_side=64).pixels
    if name.endswith(".ogg"):  # ffmpeg's RealVideo encoders skip the bars' changes at this size: no content check
        assert [read_index(f) for f in pixels] == [0, 17, 29]


@given(st.text(max_size=30), st.binary(max_size=64))
def test_detect_kind_never_fails(name, head):
    assert isinstance(detect_kind(name, head), MediaKind)


@pytest.mark.parametrize(
    ("name", "head", "audio"),
    [
        ("song.bin", b"ID3\x04\x00\x00\x00\x00", "MP3"),
        ("x", b"\xff\xfb\x90\x64\x00", "MP3"),  # MPEG-1 layer III frame, no tag
        ("x", b"\xff\xf1\x50\x80", "AAC"),  # ADTS
        ("x", b"RIFF\x24\x08\x00\x00WAVEfmt ", "WAV"),
        ("x", b"fLaC\x00\x00\x00\x22", "FLAC"),
        ("voice.opus", b"OggS\x00\x02", "Opus"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", None),  # JPEG's FF D8 is no frame sync
        ("photo.mp3", b"\x89PNG\r\n\x1a\n\x00", None),  # magic wins over the extension
        ("clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00", None),
        ("memo.bin", b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", "AAC"),  # an iPhone voice memo
        ("notes.txt", b"hello", None),
    ],
)
def test_audio_format(name, head, audio):
    assert audio_format(name, head) == audio


@given(st.text(max_size=30), st.binary(max_size=64))
def test_audio_format_never_fails(name, head):
    assert audio_format(name, head) in {None, *"MP3 AAC WAV FLAC AIFF Ogg Opus WMA AMR".split()}


def test_an_audio_file_is_refused_as_audio(tmp_path):
    wav = tmp_path / "note.wav"  # a real WAV: 16-bit PCM, 0.1 s of a 440 Hz tone
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes((np.sin(np.arange(800) * 2 * np.pi * 440 / 8000) * 3000).astype("<i2").tobytes())
    with pytest.raises(InputError, match=r"note\.wav is an audio file \(WAV\); vlmcli reads images \(JPEG"):
        load_image(wav)


@pytest.mark.parametrize(
    ("name", "head", "document"),
    [
        ("scan.bin", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF"),
        ("logo", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        ("logo", b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg width="9"/>', "SVG"),  # BOM, XML prolog
        ("icon.svg", b"", "SVG"),
        ("figure.bin", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9", "PostScript"),
        ("figure.eps", b"\xc5\xd0\xd3\xc6\x1e\x00\x00\x00", "PostScript"),  # DOS EPS binary header
        ("figure.eps", b"", "PostScript"),
        ("page.xml", b'<?xml version="1.0"?><page/>', None),
        ("photo.pdf", b"\xff\xd8\xff\xe0\x00\x10JFIF", None),  # magic wins over the extension
        ("notes.txt", b"hello", None),
        ("deck.pptx", b"PK\x03\x04\x14\x00", "PowerPoint presentation"),
        ("Report.DOCX", b"PK\x03\x04", "Word document"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Word document"),
        ("notes.odt", b"", "OpenDocument text"),
        ("photo.docx", b"\xff\xd8\xff\xe0", None),  # a JPEG under a wrong name is the JPEG
    ],
)
def test_document_format(name, head, document):
    assert document_format(name, head) == document


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("my scan.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n", "my scan.pdf is a PDF document, not a picture: vlm ask and vlm describe read its pages (the pdf extra), and so does caption-dir given the PDF or a folder of PDFs as an argument; or render them, e.g. pdftoppm -png -r 150"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "logo.svg is an SVG drawing, not an image vlmcli can read: render it first, e.g. rsvg-convert"),
        ("fig 1.eps", None, "fig 1.eps is a PostScript (EPS) drawing, not an image vlmcli can read: render it first, e.g. gs -q -dSAFER -dEPSCrop -sDEVICE=png16m -r150 -o 'fig 1-%d.png' '"),
        ("q3 deck.pptx", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "q3 deck.pptx is a PowerPoint presentation, not a picture: save it as PDF and pass the PDF (vlm ask and vlm describe read its pages), e.g. libreoffice --headless --convert-to pdf '"),
    ],
)
def test_documents_are_refused_with_the_step_that_makes_a_picture(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is None:  # a real EPS, written by Pillow
        from PIL import Image

        Image.new("RGB", (9, 9), "red").save(path)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_image(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_office_documents_are_known_by_their_parts_whatever_their_name(tmp_path):
    """A .docx saved as .jpg, or an attachment with no name, was "not an image vlmcli can read"."""
    import io
    import zipfile

    from vlmcli.media.kinds import office_document_in

    def zipped(**members: str) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, text in members.items():
                archive.writestr(member.replace("__", "/").replace("CT", "[Content_Types].xml"), text)
        return buffer.getvalue()

    word = zipped(CT="<Types/>", word__document_xml="<w/>")
    assert office_document_in(word) == "Word document"
    assert office_document_in(zipped(CT="<Types/>", ppt__presentation_xml="<p/>")) == "PowerPoint presentation"
    assert office_document_in(zipped(mimetype="application/vnd.oasis.opendocument.spreadsheet")) == "OpenDocument spreadsheet"
    assert office_document_in(zipped(photo_jpg="x")) is None and office_document_in(b"\xff\xd8\xff") is None
    saved_as = tmp_path / "report.jpg"
    saved_as.write_bytes(word)
    with pytest.raises(InputError, match=r"report\.jpg is a Word document, not a picture"):
        load_image(saved_as)


def test_flash_and_broadcast_videos_are_videos(tmp_path):
    """`vlm ask demo.swf` said "not an image vlmcli can read" while video-summarize read it:
    .swf (Flash video, flv1), .mxf, .dv, .divx and .ogm are containers ffmpeg decodes."""
    import subprocess

    from vlmcli.testing.media.video_clips import ffmpeg_exe
    from vlmcli.video.decode import probe

    for name in ("a.swf", "b.mxf", "c.dv", "d.divx", "e.ogm"):
        assert detect_kind(name) is MediaKind.VIDEO
    swf = tmp_path / "clip.swf"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=2",
                    "-c:v", "flv1", "-f", "swf", str(swf)], check=True)
    assert detect_kind(str(swf), swf.read_bytes()[:32]) is MediaKind.VIDEO and probe(swf).frame_count == 20
