"""AT Protocol TIDs: the record keys of posts, and a deterministic one per idempotency key."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Final

ALPHABET: Final = "234567abcdefghijklmnopqrstuvwxyz"
TID_PATTERN: Final = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
TIMESTAMP_BITS: Final = 53
CLOCK_BITS: Final = 10
MICROS: Final = 1_000_000
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# derived keys are dated within these seconds (the network's start to well inside 53 bits), so
# a mention with any date, even a hostile or corrupt one, still gets a valid key
ANCHOR_FIRST: Final = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
ANCHOR_LAST: Final = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp())


def encode_tid(micros: int, clock_id: int) -> str:
    """13 base32-sortable characters: a 53-bit microsecond timestamp, then a 10-bit clock id."""
    if not 0 <= micros < 2**TIMESTAMP_BITS or not 0 <= clock_id < 2**CLOCK_BITS:
        raise ValueError(f"TID parts out of range: micros={micros}, clock_id={clock_id}")
    value = (micros << CLOCK_BITS) | clock_id
    chars = []
    for _ in range(13):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_tid(tid: str) -> tuple[datetime, int]:
    """The time and clock id a TID encodes."""
    if not is_tid(tid):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for char in tid:
        value = (value << 5) | ALPHABET.index(char)
    micros, clock_id = value >> CLOCK_BITS, value & (2**CLOCK_BITS - 1)
    return EPOCH + timedelta(microseconds=micros), clock_id


def is_tid(value: str) -> bool:
    """Whether `value` has TID syntax (the record-key type of `app.bsky.feed.post`)."""
    return bool(TID_PATTERN.match(value))


def derive_rkey(idempotency_key: str, anchor: datetime) -> str:
    """A TID that only `idempotency_key` maps to, dated within the second of `anchor`.

    The same key always gives the same record key, so a retried post collides with the first
    one instead of appearing twice. The hash picks the microseconds and the clock id (30 bits),
    and anchoring on a real moment (the mention's time) keeps the key's time plausible; an
    anchor outside 2023-2200 is clamped to it (same anchor, same key: still deterministic).
    """
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    second = min(max(int(anchor.timestamp()), ANCHOR_FIRST), ANCHOR_LAST)
    micros = second * MICROS + digest % MICROS
    clock_id = (digest >> 32) % 2**CLOCK_BITS
    return encode_tid(micros, clock_id)
