"""PDF documents read as the pictures of their pages: `vlm ask invoice.pdf "What is the total?"`.

Document questions are one of the main uses of a VLM, and the document is usually a PDF.
Each chosen page is rendered by PDFium (`pypdfium2`, the `pdf` extra: the renderer inside
Chrome) at `DPI` (150: body text about 20 px high, legible to every family's vision tower),
on white, and given to the model as one image, in page order. A page is named
`<file>#page=N` (the PDF open-parameter form browsers take), 1-based.

Which pages: `--pages 1-3,7` (`parse_pages`, pure); by default the first `DEFAULT_PAGES`,
with a warning when the document has more (a 300-page report does not fit a prompt).
Encrypted and damaged PDFs are one-line `InputError`s; without pypdfium2 the error says
how to install it (or how to render the pages with poppler instead).
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from vlmcli.errors import BackendUnavailableError, ConfigError, InputError

if TYPE_CHECKING:
    from PIL import Image

DPI = 150
DEFAULT_PAGES = 8
"""Pages read from a document when --pages does not say (the rest are named in a warning)."""
INSTALL_HINT = "pip install 'vlmcli[pdf]' (pypdfium2)"
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d*)\s*)?$")


@dataclass(frozen=True)
class PageChoice:
    """Pages chosen by --pages: 1-based ranges, `last` None for "to the end" (`5-`)."""

    ranges: tuple[tuple[int, int | None], ...]

    def __post_init__(self) -> None:
        if not self.ranges:
            raise ConfigError("--pages needs at least one page, e.g. --pages 1-3,7.")
        for first, last in self.ranges:
            if first < 1 or (last is not None and last < first):
                shown = str(first) if last == first else f"{first}-{last if last is not None else ''}"
                what = "a page" if last == first else "a range of pages"
                raise ConfigError(f"--pages: {shown} is not {what} (pages count from 1, e.g. 2-5).")

    def past_end(self, count: int) -> list[str]:
        """The pages and closed ranges asked for that run past a `count`-page document's end,
        as written (`7`, `2-9`); an open range (`5-`) never does."""
        return [
            str(first) if last == first else f"{first}-{last}"
            for first, last in self.ranges
            if first > count or (last is not None and last > count)
        ]

    def indices(self, count: int) -> list[int]:
        """0-based page indices of a `count`-page document, in the order given, each once,
        those past its end left out."""
        chosen: list[int] = []
        for first, last in self.ranges:
            for page in range(first, min(last if last is not None else count, count) + 1):
                if page - 1 not in chosen:
                    chosen.append(page - 1)
        return chosen


def parse_pages(text: str) -> PageChoice:
    """`"1-3,7,10-"` -> the PageChoice; `ConfigError` for anything else."""
    ranges = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise ConfigError(f"--pages: {part.strip()!r} is not a page or range; write e.g. --pages 1-3,7 or --pages 5-.")
        first = int(match.group(1))
        last = None if match.group(2) == "" else int(match.group(2) or first)
        ranges.append((first, last))
    return PageChoice(tuple(ranges))


@dataclass(frozen=True)
class RenderedPage:
    """One page as a picture: `number` 1-based, `key` the SHA-256 of the document's bytes
    and the page number (the same page of the same file: the same key)."""

    image: "Image.Image"
    number: int
    key: str


@dataclass(frozen=True)
class RenderedDocument:
    pages: tuple[RenderedPage, ...]
    page_count: int
    left_out: int
    """Pages of the document not read because --pages was not given (0 when it was)."""


class OpenPdf:
    """A PDF opened once (`opened`), its pages rendered one at a time."""

    def __init__(self, document: Any, name: str, pdfium: Any) -> None:
        self._document, self._name, self._pdfium = document, name, pdfium
        self.count = len(document)

    def render(self, index: int, *, dpi: int = DPI, max_pixels: int | None = None) -> "Image.Image":
        """Page `index` (0-based) as an RGB picture; `InputError` when it will not render."""
        return _render(self._document[index], self._name, index, dpi, max_pixels, self._pdfium)


@contextmanager
def opened(data: bytes, name: str) -> Iterator[OpenPdf]:
    """The PDF in `data` (`name` for messages), open for the block; `InputError` for an
    encrypted or damaged one, `BackendUnavailableError` without pypdfium2."""
    pdfium = _pdfium(name)
    document = _open(pdfium, data, name)
    try:
        yield OpenPdf(document, name, pdfium)
    finally:
        document.close()


def render_pages(
    data: bytes, name: str, *, pages: PageChoice | None = None, dpi: int = DPI, max_pixels: int | None = None
) -> RenderedDocument:
    """Render the chosen pages of the PDF in `data` (`name` for messages) as RGB pictures."""
    with opened(data, name) as pdf:
        count = pdf.count
        if count == 0:
            raise InputError(f"{name} is a PDF with no pages.")
        wanted = pages.indices(count) if pages is not None else list(range(min(count, DEFAULT_PAGES)))
        if not wanted:
            raise InputError(f"{name} has {count} page{'s' if count != 1 else ''}; --pages chose none of them.")
        digest = hashlib.sha256(data).hexdigest()
        rendered = tuple(
            RenderedPage(image=pdf.render(i, dpi=dpi, max_pixels=max_pixels), number=i + 1,
                         key=hashlib.sha256(f"{digest}#page={i + 1}@{dpi}".encode()).hexdigest())
            for i in wanted
        )  # fmt: skip
    return RenderedDocument(pages=rendered, page_count=count, left_out=0 if pages is not None else count - len(wanted))


def page_count(data: bytes, name: str) -> int:
    """The number of pages of the PDF in `data` (`InputError` when it cannot be read)."""
    with opened(data, name) as pdf:
        return pdf.count


_PAGE_ADDRESS = re.compile(r"^(?P<file>.+)#page=(?P<number>[1-9][0-9]*)$")


def page_address(source: str) -> tuple[str, int] | None:
    """(file, page number) of `<file>#page=N` when no file has that very name and `<file>`
    exists; else None (the name is read as it is)."""
    import os

    match = _PAGE_ADDRESS.match(source)
    if match is None or os.path.lexists(source) or not os.path.isfile(match["file"]):
        return None
    return match["file"], int(match["number"])


def page_source(source: str, number: int) -> str:
    """How a page is named in messages and output: `<file>#page=N`."""
    return f"{source}#page={number}"


def _pixels(width: float, height: float, scale: float) -> int:
    """The pixels PDFium renders a page of `width` x `height` points at `scale`."""
    return math.ceil(width * scale) * math.ceil(height * scale)


def _render(page: Any, name: str, index: int, dpi: int, max_pixels: int | None, pdfium: Any) -> "Image.Image":
    try:
        width, height = page.get_size()  # points (1/72 in)
        scale = dpi / 72.0
        if max_pixels and _pixels(width, height, scale) > max_pixels:  # 0 or None: no limit
            scale = (max_pixels / (width * height)) ** 0.5  # a poster-sized page: as large as allowed
            while _pixels(width, height, scale) > max_pixels:  # PDFium rounds each side up
                scale *= 0.999
        bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255), may_draw_forms=True)
        return bitmap.to_pil().convert("RGB")
    except (pdfium.PdfiumError, ValueError) as exc:  # ValueError: a page of zero or absurd size
        raise InputError(f"{name}: page {index + 1} could not be rendered ({str(exc).rstrip('.')}).") from None
    finally:
        page.close()


def _open(pdfium: Any, data: bytes, name: str) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc).rstrip(".")
        if "password" in reason.lower():
            source, copy = (name, PurePath(name).stem + "-open.pdf") if name != "<stdin>" else ("locked.pdf", "open.pdf")
            raise InputError(
                f"{name} is an encrypted PDF (it needs a password): save an unprotected copy first, "
                f"e.g. qpdf --decrypt --password=... {shlex.quote(source)} {shlex.quote(copy)}."
            ) from None
        # PDFium refuses a document without pages too, reporting no error ("Success") or a stale one
        said = "" if "success" in reason.lower() else f" ({reason})"
        raise InputError(f"{name} is a damaged PDF, or one without pages, that cannot be read{said}.") from None


def _pdfium(name: str) -> Any:
    try:
        import pypdfium2
    except ImportError:
        stem = shlex.quote(PurePath(name).stem or "page")
        raise BackendUnavailableError(
            f"{name} is a PDF: reading its pages needs {INSTALL_HINT}; or render them first, "
            f"e.g. pdftoppm -png -r {DPI} {shlex.quote(name)} {stem}."
        ) from None
    return pypdfium2
