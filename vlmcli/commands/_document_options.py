"""`--pages`, declared once for the commands that read PDFs (`ask`, `describe`)."""

from __future__ import annotations

import sys

import typer

from vlmcli.media.pdf_pages import DEFAULT_PAGES, PageChoice, parse_pages

PAGES_OPTION = typer.Option(
    "--pages",
    metavar="PAGES",
    help=f"Pages of PDF inputs to read, 1-based: 1-3,7 or 5- (default: the first {DEFAULT_PAGES}). "
    "Each page is one image. Needs the pdf extra (pypdfium2).",
    show_default=False,
)


def page_choice(text: str | None) -> PageChoice | None:
    """--pages parsed (`ConfigError` for a malformed list); None when it was not given."""
    return parse_pages(text) if text is not None else None


def pages_unused() -> None:
    """Say that --pages chose nothing: no input was a PDF (an option silently ignored misleads)."""
    sys.stderr.write("note: --pages applies to PDF inputs, and none was given.\n")
