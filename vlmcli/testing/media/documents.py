"""Small PDFs written byte by byte, for tests of `media.pdf_pages`: text pages (Helvetica, a
standard font every PDF reader has) and one locked with a password, as other programs write
them. Pillow writes the picture-only kind (`Image.save(..., "PDF", save_all=True)`).
"""

from __future__ import annotations


def _pdf(objects: list[bytes], *, trailer_extra: bytes = b"") -> bytes:
    """A PDF file of `objects` (numbered from 1; object 1 is the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    return bytes(out)


def text_pdf(pages: list[list[str]], *, size: tuple[int, int] = (612, 792), font_size: int = 24) -> bytes:
    """A PDF with one page per entry of `pages` (US Letter by default), each line of text in
    black Helvetica from the top left."""
    count = len(pages)
    font = 3 + 2 * count  # objects: 1 catalog, 2 pages, then (page, contents) per page, then the font
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count)]
    for i, lines in enumerate(pages):
        text = b"BT /F1 %d Tf %d TL 72 %d Td " % (font_size, int(font_size * 1.4), size[1] - 72 - font_size)
        text += b" ".join(b"(%s) '" % line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1") for line in lines)
        text += b" ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (size[0], size[1], font, 4 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _pdf(objects)


def locked_pdf() -> bytes:
    """A one-page PDF under the standard security handler whose empty user password does not
    open it (what "Protect with password" in a PDF editor writes, as readers see it)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>" % (b"11" * 32, b"22" * 32),
    ]
    return _pdf(objects, trailer_extra=b"/Encrypt 4 0 R /ID [<%s> <%s>] " % (b"ab" * 16, b"ab" * 16))
