"""Reading QR codes back from the images we serve, as a phone would: a small PNG decoder (the
standard library's zlib; no imaging package is installed) feeding zxing-cpp."""

from __future__ import annotations

import struct
import zlib

import zxingcpp

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _chunks(data: bytes) -> dict[bytes, list[bytes]]:
    assert data.startswith(PNG_SIGNATURE), "not a PNG"
    chunks: dict[bytes, list[bytes]] = {}
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.setdefault(kind, []).append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return chunks


def _unfilter(raw: bytes, *, height: int, stride: int, bpp: int) -> list[bytearray]:
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + predictor) & 0xFF
        rows.append(line)
        previous = line
    return rows


def png_to_gray(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, one byte of luminance per pixel) of a non-interlaced PNG."""
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    assert interlace == 0 and depth in (1, 2, 4, 8), (depth, interlace)
    channels = CHANNELS[colour]
    stride = (width * channels * depth + 7) // 8
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    rows = _unfilter(raw, height=height, stride=stride, bpp=max(1, channels * depth // 8))
    palette = chunks.get(b"PLTE", [b""])[0]
    gray = bytearray()
    for line in rows:
        if depth < 8:
            samples = [
                (line[i * depth // 8] >> (8 - depth - (i * depth) % 8)) & ((1 << depth) - 1)
                for i in range(width)
            ]
            for sample in samples:
                if colour == 3:
                    r, g, b = palette[sample * 3 : sample * 3 + 3]
                    gray.append((r * 299 + g * 587 + b * 114) // 1000)
                else:
                    gray.append(sample * 255 // ((1 << depth) - 1))
            continue
        for x in range(width):
            pixel = line[x * channels : (x + 1) * channels]
            if colour == 3:
                pixel = palette[pixel[0] * 3 : pixel[0] * 3 + 3]
            if len(pixel) >= 3:
                gray.append((pixel[0] * 299 + pixel[1] * 587 + pixel[2] * 114) // 1000)
            else:
                gray.append(pixel[0])
    return width, height, bytes(gray)


def decode_qr_png(data: bytes) -> list[str]:
    """The texts of the QR codes in a PNG image."""
    width, height, gray = png_to_gray(data)
    return decode_gray(width, height, gray)


def decode_gray(width: int, height: int, gray: bytes) -> list[str]:
    image = memoryview(gray).cast("B", (height, width))
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]
