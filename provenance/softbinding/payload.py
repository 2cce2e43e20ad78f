"""The 32 bits a watermark carries: a 24-bit ledger-issued id and a CRC-8 over it.

RivaGAN carries exactly 32 bits.  A decode from an image that was never watermarked yields
noise; with 8 check bits such noise passes as a well-formed payload with probability 1/256,
and it then still has to name an id the ledger issued (a few thousand of 16.7 million) and
agree with the fingerprint for "both" to be reported.  A payload that fails its check is
"no watermark", never an error.
"""

from __future__ import annotations

from collections.abc import Sequence

ID_BITS = 24
PAYLOAD_BITS = 32
MAX_ID = (1 << ID_BITS) - 1
#: CRC-8/SMBUS polynomial x^8 + x^2 + x + 1.
_POLY = 0x07


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial value 0) of `data`."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode(watermark_id: int) -> list[int]:
    """The 32 payload bits (most significant first) for `watermark_id` (1..2**24-1)."""
    if not 0 < watermark_id <= MAX_ID:
        raise ValueError(f"watermark id {watermark_id} is outside 1..{MAX_ID}")
    body = watermark_id.to_bytes(3, "big")
    word = int.from_bytes(body + bytes([crc8(body)]), "big")
    return [(word >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)]


def decode(bits: Sequence[int]) -> int | None:
    """The id carried by `bits`, or None when they are not a well-formed payload."""
    if len(bits) != PAYLOAD_BITS:
        return None
    word = 0
    for bit in bits:
        word = (word << 1) | (1 if bit else 0)
    body, check = word.to_bytes(4, "big")[:3], word & 0xFF
    if crc8(body) != check:
        return None
    value = int.from_bytes(body, "big")
    return value or None
