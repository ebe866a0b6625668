"""A minimal PDF of plain text lines, for providers that take dispute evidence as documents only
(Adyen's supplyDefenseDocument accepts PDF, JPEG and TIFF). Standard Helvetica, A4, Latin-1
text (other characters become "?"); long lines are wrapped, pages added as needed."""

from __future__ import annotations

import textwrap

PAGE_WIDTH_PT, PAGE_HEIGHT_PT = 595, 842  # A4
MARGIN_PT = 56
FONT_SIZE_PT = 10
LEADING_PT = 14
WRAP_CHARS = 95
LINES_PER_PAGE = (PAGE_HEIGHT_PT - 2 * MARGIN_PT) // LEADING_PT


def text_pdf(title: str, lines: list[str]) -> bytes:
    """A valid PDF document showing `title` and then `lines`."""
    wrapped = [title, ""]
    for line in lines:
        wrapped.extend(textwrap.wrap(line, WRAP_CHARS) or [""])
    pages = [wrapped[i : i + LINES_PER_PAGE] for i in range(0, len(wrapped), LINES_PER_PAGE)]
    first_page = 4  # objects: 1 catalog, 2 page tree, 3 font, then (page, content) pairs
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, page in enumerate(pages):
        content = _content(page)
        page_object = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH_PT} {PAGE_HEIGHT_PT}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {first_page + 2 * i + 1} 0 R >>"
        )
        objects.append(page_object.encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    return _document(objects)


def _content(lines: list[str]) -> bytes:
    top = PAGE_HEIGHT_PT - MARGIN_PT
    shown = b"".join(b"(%s) Tj T*\n" % _escape(line) for line in lines)
    return b"BT /F1 %d Tf %d TL %d %d Td\n%sET" % (FONT_SIZE_PT, LEADING_PT, MARGIN_PT, top, shown)


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _document(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
