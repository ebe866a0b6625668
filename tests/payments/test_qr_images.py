"""QR images: the PNG and the SVG decode back (zxing-cpp) to exactly the payload, in UTF-8, with
error correction M and a 4-module quiet zone."""

from __future__ import annotations

import re
import struct
import zlib

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.qr.epc import build_epc
from payments.qr.images import make_qr, qr_png, qr_svg
from tests.payments.test_qr_emvco import BCB_STATIC, EMVCO_EXAMPLE
from tests.payments.test_qr_epc import EPC_EXAMPLE
from tests.payments.test_qr_upi import NPCI_EXAMPLE

Pixels = list[list[int]]  # rows of 0 (dark) / 255 (light)


def png_pixels(data: bytes) -> Pixels:
    """A minimal PNG reader for what segno writes: greyscale or palette, non-interlaced."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, idat = 8, {}, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in PNG chunk {kind!r}"
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert colour in (0, 3) and depth in (1, 2, 4, 8) and interlace == 0
    palette = chunks.get(b"PLTE", b"")
    stride = (width * depth + 7) // 8
    raw = zlib.decompress(idat)
    rows: Pixels = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        row = _unfilter(line[0], bytearray(line[1:]), previous)
        previous = row
        values = []
        for x in range(width):
            bit = x * depth
            sample = (row[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
            # for a palette the red channel is enough: the image is black and white
            sample = palette[3 * sample] if colour == 3 else sample * 255 // ((1 << depth) - 1)
            values.append(0 if sample < 128 else 255)
        rows.append(values)
    return rows


def _unfilter(kind: int, row: bytearray, previous: bytearray) -> bytearray:
    for i in range(len(row)):
        left = row[i - 1] if i else 0
        up = previous[i]
        up_left = previous[i - 1] if i else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            row[i] = (row[i] + predictor) & 0xFF
    return row


def svg_pixels(data: bytes) -> Pixels:
    """Rasterise segno's SVG: one path of horizontal strokes ("M x y", "m dx dy", "h n")."""
    svg = data.decode("utf-8")
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    scale = int(re.search(r'transform="scale\((\d+)\)"', svg).group(1))
    path = re.search(r' d="([^"]+)"', svg).group(1)
    pixels = [[255] * width for _ in range(height)]
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([^MmHh]*)", path):
        values = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", numbers)]
        if command in "Mm":
            x, y = (values[0], values[1]) if command == "M" else (x + values[0], y + values[1])
        else:
            end = values[0] if command == "H" else x + values[0]
            row = int(y)  # a stroke of width 1 centred on y + 0.5 covers module row int(y)
            for module_x in range(int(min(x, end)), int(max(x, end))):
                for py in range(row * scale, (row + 1) * scale):
                    for px in range(module_x * scale, (module_x + 1) * scale):
                        pixels[py][px] = 0
            x = end
    return pixels


def decode(pixels: Pixels) -> zxingcpp.Barcode:
    buffer = bytes(value for row in pixels for value in row)
    image = memoryview(buffer).cast("B", (len(pixels), len(pixels[0])))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1
    return results[0]


PAYLOADS = [BCB_STATIC, EMVCO_EXAMPLE, EPC_EXAMPLE, NPCI_EXAMPLE, "Zürich — 最佳运输"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_png_decodes_to_the_payload(payload):
    result = decode(png_pixels(qr_png(payload)))
    assert result.text == payload
    assert result.bytes == payload.encode("utf-8")
    assert result.ec_level == "M"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_svg_decodes_to_the_payload(payload):
    result = decode(svg_pixels(qr_svg(payload, scale=4)))
    assert result.text == payload
    assert result.ec_level == "M"


@pytest.mark.parametrize("scale", [1, 3, 8])
def test_png_has_a_four_module_quiet_zone_at_the_given_scale(scale):
    pixels = png_pixels(qr_png(EPC_EXAMPLE, scale=scale))
    modules = make_qr(EPC_EXAMPLE).symbol_size(border=0)[0]
    assert len(pixels) == len(pixels[0]) == (modules + 8) * scale
    quiet = 4 * scale
    for band in (pixels[:quiet], pixels[-quiet:]):
        assert all(value == 255 for row in band for value in row)
    for row in pixels:
        assert set(row[:quiet]) == set(row[-quiet:]) == {255}
    # the finder pattern's dark corner starts right after the quiet zone
    assert pixels[quiet][quiet] == 0


def test_svg_declares_the_size_with_the_quiet_zone():
    svg = qr_svg(BCB_STATIC, scale=5).decode("utf-8")
    modules = make_qr(BCB_STATIC).symbol_size(border=0)[0]
    assert f'width="{(modules + 8) * 5}"' in svg


def test_error_correction_is_m_even_when_a_higher_level_would_fit():
    qr = make_qr("A")
    assert (qr.error, qr.is_micro) == ("M", False)


@pytest.mark.parametrize("scale", [0, -1, 41])
def test_out_of_range_scale_is_refused(scale):
    with pytest.raises(ValueError, match="scale"):
        qr_png("x", scale=scale)


def test_empty_data_is_refused():
    with pytest.raises(ValueError, match="needs data"):
        qr_svg("")


@settings(max_examples=25, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300))
def test_png_round_trip_keeps_the_utf8_bytes(payload):
    assert decode(png_pixels(qr_png(payload, scale=2))).bytes == payload.encode("utf-8")


def test_utf8_that_looks_like_shift_jis_stays_bytes():
    # U+0FC2 encodes to UTF-8 bytes segno would otherwise write in Kanji mode.
    assert decode(png_pixels(qr_png("\u0fc20", scale=2))).bytes == "\u0fc20".encode()


def test_largest_epc_payload_fits_qr_version_13_as_the_guideline_requires():
    payload = build_epc(
        name="N" * 70,
        iban="BE72000000001616",
        bic="BPOTBEB1XXX",
        amount_minor=99_999_999_999,
        purpose="CHAR",
        text="T" * 140,
        information="I" * 54,
    )
    assert len(payload.encode("utf-8")) == 331
    assert make_qr(payload).version <= 13
