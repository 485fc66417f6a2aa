"""Turn the INPUT arguments of a command into decoded images and videos.

This is the one place that decides what an input is. A video (recognised by extension
or magic bytes) is probed and only its sampled frames are decoded (`vlmcli.video`), at
most `VIDEO_MAX_SIDE` pixels on the long side; commands that take no videos pass
`video=None` and get a clear refusal instead. An animated GIF, WebP or APNG is a video to
commands that take videos, and its first frame to the others. `load_inputs` stops at the first bad input
(ask: one prompt needs them all); `check_each` puts a `Failed` in its place and goes on
(describe). A video whose cut scan was degraded gets one warning line on stderr; the notes
of its sampling report (which stream of several, a late first picture, `--frames` cut back)
are said by the command once per video (`say_video_notes`). A
dataset item named as caption-dir's rows name it (`<shard>::<key>`) is read from its shard
(`inputs/item_address.py`).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError, InputError, VlmError
from vlmcli.inputs.addresses import STDIN_VIDEO
from vlmcli.inputs.clip_files import temporary_copy
from vlmcli.inputs.item_address import read_item
from vlmcli.media.animation import frame_count, picture_format
from vlmcli.media.document_input import DocumentInput
from vlmcli.media.image_input import ImageInput
from vlmcli.media.images import image_input
from vlmcli.media.kinds import MediaKind, detect_kind, is_pdf, playlist_format
from vlmcli.media.names import display_name, input_name, said_of
from vlmcli.media.pdf_pages import page_address, parse_pages
from vlmcli.media.sources import STDIN, read_head, read_source

if TYPE_CHECKING:
    from vlmcli.commands.video_options import VideoOptions
    from vlmcli.inputs.item import ShardItem
    from vlmcli.media.pdf_pages import PageChoice

Media = ImageInput | VideoInput | DocumentInput


@dataclass(frozen=True)
class Failed:
    """An input that could not be used, and why (`check_each`)."""

    source: str
    error: InputError


def load_inputs(
    sources: Sequence[str], *, command: str, max_pixels: int | None, video: "VideoOptions | None" = None,
    pages: "PageChoice | None" = None,
) -> list[Media]:
    """Decode every source (a path, or `-` once for stdin), in order. Fails on the first bad one."""
    _check_stdin(sources)
    return [load_one(source, command=command, max_pixels=max_pixels, video=video, pages=pages) for source in sources]


def check_each(
    sources: Sequence[str], *, command: str, max_pixels: int | None, video: "VideoOptions | None" = None,
    pages: "PageChoice | None" = None,
) -> Iterator[Media | Failed]:
    """Decode every source, in order, one at a time (the caller may drop each); a bad one (missing,
    corrupt, ...) becomes a `Failed` in its place. Only input errors are collected; anything else
    (a missing backend, a bad flag) still stops."""
    _check_stdin(sources)
    for source in sources:
        try:
            yield load_one(source, command=command, max_pixels=max_pixels, video=video, pages=pages)
        except InputError as error:
            yield Failed(source, error)


class DecodedWhenTaken(Sequence):
    """Inputs that decoded once (`check_each`), decoded again each time one is taken, as
    `build(media)`: `vlm describe *.jpg` over a thousand 12 MP photos then holds the pictures of
    the requests in flight, not 36 MB per photo for all of them at once (decoding twice costs far
    less than describing). What came from standard input cannot be read twice and is kept.
    A file deleted or rewritten since it was checked (a sync tool, a camera still writing) makes
    taking it raise its `InputError`, for that index alone (take by index, not with `iter`, to
    go on): the scheduler (`engine.scheduler._numbered`), the static batches (`_generate._events`)
    and the dry run fail that input alone, as the check would have."""

    def __init__(
        self, handles: Sequence[tuple[str, Media | None]], build: Callable[[Media], Any], *,
        command: str, max_pixels: int | None, video: "VideoOptions | None", pages: "PageChoice | None" = None,
    ) -> None:
        self._handles = list(handles)  # (source, the media itself only for stdin)
        self._build = build
        self._load = dict(command=command, max_pixels=max_pixels, video=video, pages=pages, warn=False)

    def __len__(self) -> int:
        return len(self._handles)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        source, kept = self._handles[index]
        return self._build(kept if kept is not None else load_one(source, **self._load))


def _check_stdin(sources: Sequence[str]) -> None:
    if list(sources).count(STDIN) > 1:
        raise ConfigError("Standard input ('-') can be used only once per command.")  # a usage mistake: exit 2


def load_one(
    source: str, *, command: str, max_pixels: int | None, video: "VideoOptions | None", warn: bool = True,
    pages: "PageChoice | None" = None,
) -> Media:
    """Decode one source: a video (by extension or content), a PDF's pages (`pages`: which) or
    an image. `warn`: print a video's degraded-scan warning or a document's left-out pages
    (once per input: not again when it is decoded a second time)."""
    if (item := read_item(source, page_pixels=max_pixels)) is not None:  # `<shard>::<key>`, as caption-dir's rows name items
        return load_item(source, item, command=command, max_pixels=max_pixels, video=video, warn=warn, pages=pages)
    if (page := page_address(source)) is not None:  # `<file>#page=N`, as --json names a PDF's pages
        document, number = page
        return load_document(document, read_source(document), max_pixels=max_pixels, pages=parse_pages(str(number)), warn=warn)
    if detect_kind(source) is MediaKind.VIDEO and source != STDIN and detect_kind(source, _head(source)) is MediaKind.VIDEO:
        return load_video(source, command=command, video=video, warn=warn)  # by name and first bytes: never read it all
    data = read_source(source)
    if detect_kind(source, data[:32]) is MediaKind.VIDEO:
        if source == STDIN:
            raise InputError(STDIN_VIDEO)
        return load_video(source, command=command, video=video, warn=warn)
    if source != STDIN and playlist_format(source, data[:512]) is not None:  # HLS of local segments: one video
        return load_video(source, command=command, video=video, warn=warn)
    if is_pdf(data[:1024]):
        return load_document(source, data, max_pixels=max_pixels, pages=pages, warn=warn)
    if video is not None and (frames := frame_count(data)) > 1:  # a GIF, WebP or APNG that moves
        if source != STDIN:
            return load_video(source, command=command, video=video, warn=warn)
        if warn:
            sys.stderr.write(
                f"note: standard input holds an animation ({frames} frames); only its first frame is read "
                "from a pipe: pass the file's path to ask about its motion.\n"
            )
    picture = image_input(data, source, max_pixels=max_pixels)
    if warn and picture.note:  # a fax or a scanner's multi-page TIFF: say what was read
        sys.stderr.write(f"note: {said_of(input_name(source), picture.note)}\n")
    return picture


def naming_refused(error: VlmError, media: Sequence[Media]) -> VlmError:
    """`error` naming the inputs it is about, when the model's planning refused an image for
    its size (`tiling.refusal`: it knows the size, not the file): the pictures, PDF pages and
    video frames of `media` of that size. `error` itself for any other error."""
    from vlmcli.tiling.refusal import about_image, refused_size

    size = refused_size(error)
    if size is None:
        return error
    names = [input_name(source) for source, picture in _picture_sizes(media) if picture == size]
    if not names:
        return error
    named = type(error)(said_of(", ".join(dict.fromkeys(names)), str(error)))
    return about_image(named, width=size[0], height=size[1])


def _picture_sizes(media: Sequence[Media]) -> Iterator[tuple[str, tuple[int, int]]]:
    """(source, (width, height)) of each picture the model is given: a PDF's pages by page, a
    video's frames (as families without video support take them) by the video."""
    for item in media:
        if isinstance(item, DocumentInput):
            yield from ((page.source, page.image.size) for page in item.pages)
        elif isinstance(item, ImageInput):
            yield item.source, item.image.size
        elif isinstance(item, VideoInput) and getattr(item.frames, "ndim", 0) == 4:  # (T, H, W, 3)
            yield item.source, (int(item.frames.shape[2]), int(item.frames.shape[1]))


def _head(source: str) -> bytes:
    """The first bytes of `source` (a picture saved under a video's name is a picture); none
    when it cannot be read (the video decoder then says why)."""
    try:
        return read_head(source, 32)
    except InputError:
        return b""


def load_document(
    source: str, data: bytes, *, max_pixels: int | None, pages: "PageChoice | None", warn: bool = True
) -> DocumentInput:
    """The chosen pages of the PDF read from `source`, rendered (`media.pdf_pages`)."""
    from vlmcli.media.pdf_pages import DEFAULT_PAGES, page_source, render_pages

    name = input_name(source)
    document = render_pages(data, name, pages=pages, max_pixels=max_pixels)
    beyond = pages.past_end(document.page_count) if pages is not None else []
    if warn and beyond:  # some of them: a page past the end is noted (none of them is an error)
        sys.stderr.write(
            f"note: {name} has {document.page_count} page{'s' if document.page_count != 1 else ''}; "
            f"--pages {','.join(beyond)} asked for pages past its end, left out.\n"
        )
    if warn and document.left_out:
        sys.stderr.write(
            f"warning: {name} has {document.page_count} pages; the first {DEFAULT_PAGES} are read "
            f"(--pages chooses others, e.g. --pages {DEFAULT_PAGES + 1}-{min(2 * DEFAULT_PAGES, document.page_count)}).\n"
        )
    return DocumentInput(
        source=source,
        pages=tuple(ImageInput(image=p.image, source=page_source(source, p.number), key=p.key) for p in document.pages),
        page_count=document.page_count,
        left_out=document.left_out,
    )


def load_item(
    source: str, item: "ShardItem", *, command: str, max_pixels: int | None, video: "VideoOptions | None", warn: bool,
    pages: "PageChoice | None" = None,
) -> Media:
    """A dataset item's picture, its PDF's pages (a zip's `scans/march.pdf`), or its clip (or
    animation, to commands that take videos), read from a temporary file: video decoders read
    files. Messages name `source`."""
    data = item.data or b""
    if is_pdf(data[:1024]):
        return load_document(source, data, max_pixels=max_pixels, pages=pages, warn=warn)
    if detect_kind(item.name or source, data[:32]) is not MediaKind.VIDEO and (video is None or frame_count(data) < 2):
        return image_input(data, source, max_pixels=max_pixels)
    with temporary_copy(data, source) as clip:
        return load_video(source, command=command, video=video, warn=warn, file=clip)


def load_video(
    source: str, *, command: str, video: "VideoOptions | None", warn: bool = True, file: str | None = None
) -> VideoInput:
    """Probe `source` (read from `file` when given), plan its frames with the chosen sampler,
    decode only those."""
    if video is None:
        raise InputError(f"{source} is a video; video input is not supported by {command}.")
    from vlmcli.commands.video_options import VIDEO_MAX_SIDE
    from vlmcli.video.sample import sample_video

    sampled = sample_video(
        file or source, method=video.method(), options=video.sampling_options(), max_side=VIDEO_MAX_SIDE
    )
    clip = VideoInput.from_sampled(sampled, source=source)
    if warn and clip.sampling is not None:
        for note in (clip.sampling.scan_degraded, clip.sampling.damaged):
            if note:
                sys.stderr.write(f"warning: {display_name(source)}: {note}\n")
    return clip


def say_video_notes(media: Iterable[object], said: set[str]) -> None:
    """Each note of the videos among `media` (`SamplingReport.notes`, made where the frames were
    sampled) once on stderr as a `warning:` line, as video-summarize says them (`said`: the
    notes already written; a video named twice, or decoded again, is not noted again)."""
    for clip in media:
        if not isinstance(clip, VideoInput):
            continue
        for note in clip.notes:
            if note not in said:
                said.add(note)
                sys.stderr.write(f"warning: {note}\n")


def refuse_still_picture(source: str, file: str) -> None:
    """For commands that take only videos (video-summarize): a still picture is refused, where
    ffmpeg would open a JPEG as a one-frame "video" and summarise it. Animations pass."""
    try:
        head = read_head(file, 32)
    except InputError:
        return  # missing, a folder, ...: the video probe says so, as for any video
    if detect_kind(source, head) is not MediaKind.IMAGE:
        return
    if picture_format(head[:16]) is not None and frame_count(read_source(file)) > 1:
        return
    raise InputError(f"{source} is a still picture, not a video: `vlm describe {shlex.quote(source)}` describes it.")


def split_media(media: Sequence[Media]) -> tuple[tuple[ImageInput, ...], tuple[VideoInput, ...]]:
    """(images, videos) in input order: a prompt holds the images first (a document's pages
    where the document was named), then the videos."""
    images: list[ImageInput] = []
    for item in media:
        if isinstance(item, DocumentInput):
            images.extend(item.pages)
        elif isinstance(item, ImageInput):
            images.append(item)
    videos = tuple(m for m in media if isinstance(m, VideoInput))
    return tuple(images), videos
