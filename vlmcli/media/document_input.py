"""A document (a PDF) as the rest of vlmcli passes it around: its chosen pages, each an image.

`ask` puts the pages among its images in input order; `describe` makes one request per
document with all its pages. Built by `commands._inputs.load_document` (`media.pdf_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.media.image_input import ImageInput


@dataclass(frozen=True)
class DocumentInput:
    """The rendered pages of one document, in page order (`ImageInput.source` is `<file>#page=N`)."""

    source: str
    pages: tuple[ImageInput, ...]
    page_count: int
    """Pages in the document (read or not)."""
    left_out: int = 0
    """Pages not read because --pages did not ask for them and the document has more than the default."""

    def __post_init__(self) -> None:
        if not self.pages:
            raise ValueError("a document input needs at least one page")
