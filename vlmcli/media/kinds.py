"""Tell images from videos, by file extension and by the first bytes ("magic").

Used to give a clear message when a video is passed where only images are accepted, and
later to route videos to the video decoder. Pure: no I/O.
"""

from __future__ import annotations

import enum
from pathlib import PurePath

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".dib",
        ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".avif", ".heic", ".heif", ".jp2", ".j2k", ".qoi",
        ".psd", ".icns", ".cur", ".dds", ".sgi", ".ras", ".pcx", ".pcd", ".xpm", ".fits", ".fit", ".fts",
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef",
        ".srw", ".3fr", ".iiq", ".x3f",
    }
)  # fmt: skip
"""Names pictures go by (camera raw files' too: `CAMERA_RAW`): a file found by walking a folder
is kept for them even when its bytes are damaged; a shard's member or column is a picture by them."""

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp", ".ogv", ".ts", ".mts",
     ".rm", ".rmvb", ".vob", ".m2ts", ".3g2", ".f4v", ".asf", ".m1v", ".m2v",
     ".h264", ".264", ".h265", ".265", ".hevc", ".m4s", ".swf", ".mxf", ".dv", ".divx", ".ogm"}
)

AUDIO_EXTENSIONS = {
    ".mp3": "MP3", ".wav": "WAV", ".flac": "FLAC", ".ogg": "Ogg", ".oga": "Ogg", ".opus": "Opus",
    ".m4a": "AAC", ".aac": "AAC", ".wma": "WMA", ".aif": "AIFF", ".aiff": "AIFF", ".amr": "AMR",
}

# ISO-BMFF brands of still-image formats (HEIC/AVIF) that share the `ftyp` box with MP4.
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis")
# ...and of audio (iTunes/Apple .m4a, audiobooks, voice memos; Flash audio): no picture in them
# but perhaps a cover, so they are audio files, not videos without a video stream.
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
# ...and of Canon's CR3 raw photos (a picture: its preview, `raw_preview.py`).
_RAW_BRANDS = (b"crx ",)


class MediaKind(str, enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    UNKNOWN = "unknown"
    """Not recognised here; image decoding decides (and explains) whether it is usable."""


def _video_magic(head: bytes) -> bool:
    if len(head) >= 12 and head[4:8] == b"ftyp":  # MP4 / MOV / 3GP (and HEIC/AVIF images, M4A audio)
        return head[8:12] not in _IMAGE_BRANDS + _AUDIO_BRANDS + _RAW_BRANDS
    if head[4:8] in (b"styp", b"moof"):  # a fragment of a stream (.m4s): no picture without its init segment
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM (EBML)
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):  # MPEG-PS / MPEG-1
        return True
    if head.startswith(b"FLV"):
        return True
    if head.startswith(b"OggS") and (b"\x80theora" in head or b"\x01video" in head):  # Ogg Theora (or OGM) named .ogg
        return True
    if head.startswith(b".RMF"):  # RealMedia (.rm, .rmvb): old archives, ffmpeg decodes them
        return True
    if head.startswith((b"\x00\x00\x00\x01\x67", b"\x00\x00\x00\x01\x27", b"\x00\x00\x00\x01\x40\x01")):
        return True  # a raw H.264 (SPS first) or HEVC (VPS first) stream: a CCTV recorder's export
    return head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF / WMV


def detect_kind(name: str, head: bytes = b"") -> MediaKind:
    """The kind of medium in a file called `name` whose first bytes are `head` (>= 16 is plenty).

    Magic bytes win over the extension; with no recognisable magic, a video extension
    decides. Everything else is UNKNOWN and left to the image decoder.
    """
    if head and _video_magic(head):
        return MediaKind.VIDEO
    if PurePath(name).suffix.lower() in VIDEO_EXTENSIONS and not _image_magic(head):
        return MediaKind.VIDEO
    return MediaKind.IMAGE if _image_magic(head) else MediaKind.UNKNOWN


def _image_magic(head: bytes) -> bool:
    return (
        head.startswith(b"\xff\xd8\xff")  # JPEG
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith((b"GIF87a", b"GIF89a"))
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
        or head.startswith((b"II*\x00", b"MM\x00*"))  # TIFF
        or head.startswith(b"BM")
        or head.startswith((b"8BPS", b"icns", b"DDS ", b"\x59\xa6\x6a\x95", b"/* XPM */", b"SIMPLE  ="))  # PSD, ICNS, DDS, Sun raster, XPM, FITS
        or (len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS)
    )


def audio_format(name: str, head: bytes = b"") -> str | None:
    """The audio format a file called `name` starting with `head` holds ("MP3", "WAV", ...), or
    None. Used only to explain a refusal: vlmcli reads pictures, and an audio file deserves a
    clearer word than "not an image"."""
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF2):
        return "MP3"  # an ID3 tag, or an MPEG-1/2 layer III frame sync (JPEG's FF D8 is not one)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "AAC"  # ADTS frame sync
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "WAV"
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _AUDIO_BRANDS:
        return "AAC"  # the codec these brands carry (ALAC .m4a is rare; the word is a hint, not a probe)
    if head and (_video_magic(head) or _image_magic(head)):
        return None
    return AUDIO_EXTENSIONS.get(PurePath(name).suffix.lower())


CAMERA_RAW = {
    ".dng": "DNG", ".cr2": "Canon CR2", ".cr3": "Canon CR3", ".crw": "Canon CRW", ".nef": "Nikon NEF",
    ".nrw": "Nikon NRW", ".arw": "Sony ARW", ".srf": "Sony SRF", ".sr2": "Sony SR2", ".raf": "Fujifilm RAF",
    ".orf": "Olympus ORF", ".rw2": "Panasonic RW2", ".pef": "Pentax PEF", ".srw": "Samsung SRW",
    ".raw": "camera raw", ".3fr": "Hasselblad 3FR", ".iiq": "Phase One IIQ", ".x3f": "Sigma X3F",
}  # fmt: skip
"""Camera raw files by extension. Most are TIFF inside, so Pillow opens them, but it sees only
the first directory: a thumbnail (NEF's is 160x120) or a preview, never the photo."""


def looks_like_picture(head: bytes) -> bool:
    """Whether `head` (a file's first bytes) starts a picture format vlmcli reads."""
    return _image_magic(head)


def camera_raw_format(name: str) -> str | None:
    """"Nikon NEF", "DNG", ... when a file called `name` is a camera raw file, else None."""
    return CAMERA_RAW.get(PurePath(name).suffix.lower())


def is_jpeg_xl(head: bytes) -> bool:
    """A JPEG XL codestream (FF 0A) or its ISO-BMFF container ("JXL " box)."""
    return head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n")


OFFICE_DOCUMENTS = {
    ".docx": "Word document", ".doc": "Word document", ".pptx": "PowerPoint presentation",
    ".ppt": "PowerPoint presentation", ".xlsx": "Excel workbook", ".xls": "Excel workbook",
    ".odt": "OpenDocument text", ".odp": "OpenDocument presentation", ".ods": "OpenDocument spreadsheet",
    ".key": "Keynote presentation", ".pages": "Pages document", ".numbers": "Numbers spreadsheet",
}
"""Office files by name, when their bytes are a zip (OOXML, OpenDocument, iWork) or an OLE
compound file (the legacy .doc/.ppt/.xls): documents a PDF export makes readable."""
_OFFICE_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


_OOXML_PARTS = (("word/", "Word document"), ("ppt/", "PowerPoint presentation"), ("xl/", "Excel workbook"))
_ODF_TYPES = {
    b"application/vnd.oasis.opendocument.text": "OpenDocument text",
    b"application/vnd.oasis.opendocument.presentation": "OpenDocument presentation",
    b"application/vnd.oasis.opendocument.spreadsheet": "OpenDocument spreadsheet",
}


def office_document_in(data: bytes) -> str | None:
    """The kind of office document a zip's bytes hold, by its parts (OOXML: `word/`, `ppt/`,
    `xl/` beside `[Content_Types].xml`; OpenDocument: its `mimetype` member), whatever the
    file is called (a .docx saved as .jpg, a mail attachment without a name); else None."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                return _ODF_TYPES.get(archive.read("mimetype").strip())
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, RuntimeError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    return next((kind for prefix, kind in _OOXML_PARTS if any(n.startswith(prefix) for n in names)), None)


def is_pdf(head: bytes) -> bool:
    """Whether a file starting with `head` is a PDF (its `%PDF-` marker first, after any
    blank bytes or a UTF-8 BOM some generators write)."""
    return head.lstrip(b" \t\r\n\x00").removeprefix(b"\xef\xbb\xbf").startswith(b"%PDF-")


def document_format(name: str, head: bytes = b"") -> str | None:
    """"PDF", "SVG", "PostScript" or an office document's kind (`OFFICE_DOCUMENTS`) when a file
    called `name` starting with `head` (its first ~512 bytes) is a document or a vector drawing
    rather than a picture, else None. Like
    `audio_format`, only used to explain a refusal with the step that turns it into a picture.
    (Pillow could open EPS, but only by running Ghostscript on it, which vlmcli never does.)"""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if is_pdf(head):
        return "PDF"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):  # PostScript / EPS, or DOS EPS's binary header
        return "PostScript"
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!DOCTYPE svg", b"<!--")) and b"<svg" in text):
        return "SVG"
    office = OFFICE_DOCUMENTS.get(PurePath(name).suffix.lower())
    if office is not None and (not head or head.startswith(_OFFICE_MAGIC)):
        return office
    if head and (_video_magic(head) or _image_magic(head)):
        return None
    return {".pdf": "PDF", ".svg": "SVG", ".svgz": "SVG", ".eps": "PostScript", ".ps": "PostScript"}.get(
        PurePath(name).suffix.lower()
    )


def playlist_format(name: str, head: bytes = b"") -> str | None:
    """"HLS" or "DASH" when a file called `name` starting with `head` is a streaming playlist
    (the index of a video cut into segments, as stream downloaders leave it), else None. An HLS
    playlist of local segments is read as one video by ask, describe and video-summarize
    (`video.playlists`); otherwise this explains a refusal."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U"):
        return "HLS"
    if b"<MPD" in head[:512]:
        return "DASH"
    return {".m3u8": "HLS", ".mpd": "DASH"}.get(PurePath(name).suffix.lower())
