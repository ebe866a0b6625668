"""QR code images of a payload: PNG and SVG bytes, drawn with segno.

Error correction level M (what EPC069-12 prescribes and EMVCo payloads are printed with), never
raised automatically, so the symbol version depends only on the payload; a 4-module quiet zone.
"""

from __future__ import annotations

import io

import segno

ERROR_CORRECTION = "m"
QUIET_ZONE_MODULES = 4
MAX_SCALE = 40  # pixels per module; keeps an image of the largest EPC code under 4,000 px


def qr_png(data: str, *, scale: int = 8) -> bytes:
    """`data` as a black-on-white PNG, `scale` pixels per module."""
    return _render(data, kind="png", scale=scale)


def qr_svg(data: str, *, scale: int = 8) -> bytes:
    """`data` as an SVG document (UTF-8), `scale` user units per module."""
    return _render(data, kind="svg", scale=scale)


def make_qr(data: str) -> segno.QRCode:
    """The QR symbol for `data`: a full-size QR code (never Micro QR), error correction M."""
    if not data:
        raise ValueError("a QR code needs data")
    # UTF-8 bytes always: EPC character set 1 and the EMVCo CRC both mean UTF-8, while segno
    # would otherwise pick ISO 8859-1 for text that fits it.
    qr = segno.make_qr(data, error=ERROR_CORRECTION, boost_error=False, encoding="utf-8")
    if qr.mode == "kanji":
        # segno takes UTF-8 bytes that happen to fall in Shift JIS's ranges for Kanji (U+0FC2
        # does), which a reader then decodes as Shift JIS: keep them bytes.
        qr = segno.make_qr(
            data, error=ERROR_CORRECTION, boost_error=False, encoding="utf-8", mode="byte"
        )
    return qr


def _render(data: str, *, kind: str, scale: int) -> bytes:
    if not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be 1–{MAX_SCALE} pixels per module")
    buffer = io.BytesIO()
    make_qr(data).save(buffer, kind=kind, scale=scale, border=QUIET_ZONE_MODULES)
    return buffer.getvalue()
