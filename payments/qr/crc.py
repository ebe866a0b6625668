"""CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF), the EMVCo QR checksum."""

from __future__ import annotations

_POLYNOMIAL = 0x1021


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLYNOMIAL) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _table()


def crc16_ccitt(data: bytes, *, initial: int = 0xFFFF) -> int:
    """The CRC-16/CCITT-FALSE of `data` (no reflection, no final XOR)."""
    crc = initial
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def crc16_hex(text: str) -> str:
    """The checksum of `text` as EMVCo writes it: over the UTF-8 bytes, four upper-case hex."""
    return f"{crc16_ccitt(text.encode('utf-8')):04X}"
