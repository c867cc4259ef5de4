"""Per-stream watermarks: which search or notification results a previous run already took.

Results come newest first and may arrive late (a search index lags behind), so a bare
"newest time seen" would miss a post indexed after a newer one. A watermark keeps a floor
(older items are done) and the items seen within a look-back window above it, bounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

LOOKBACK_MS: Final = 15 * 60 * 1000
MAX_SEEN: Final = 300


def seen_key(uri: str) -> str:
    """A short stable key for an item (keeps the cursor small)."""
    return hashlib.sha256(uri.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Watermark:
    """Items older than `floor` (epoch ms) are done; newer ones are done if their key is seen."""

    floor: int | None = None
    seen: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: Any) -> Watermark:
        """Read a stream's saved state; anything unreadable starts the stream afresh."""
        if not isinstance(state, Mapping) or not isinstance(state.get("floor"), int):
            return cls()
        seen = state.get("seen")
        if not isinstance(seen, Mapping):
            seen = {}
        return cls(state["floor"], {str(k): int(v) for k, v in seen.items()})

    def to_state(self) -> dict[str, Any]:
        """Small JSON for the cursor."""
        return {"floor": self.floor, "seen": dict(sorted(self.seen.items()))}

    @property
    def is_fresh(self) -> bool:
        """No run has recorded anything yet."""
        return self.floor is None

    def is_new(self, key: str, at_ms: int | None) -> bool:
        """Whether an item (its seen key, its time or None when unknown) is not yet taken."""
        if key in self.seen:
            return False
        return self.floor is None or at_ms is None or at_ms >= self.floor

    def is_below(self, at_ms: int | None) -> bool:
        """Whether an item is older than the floor (so everything after it is, too)."""
        return self.floor is not None and at_ms is not None and at_ms < self.floor

    def advance(self, taken: Iterable[tuple[str, int | None]]) -> Watermark:
        """The watermark after taking `taken` (key, time): floor moves up, the seen-set is cut."""
        merged = dict(self.seen)
        undated = []
        for key, at_ms in taken:
            if at_ms is None:
                undated.append(key)
            else:
                merged[key] = max(at_ms, merged.get(key, at_ms))
        if not merged:
            return self
        newest = max(merged.values())
        # undated items are remembered as of the newest time, so they age out with it
        merged.update({key: newest for key in undated})
        floor = max(self.floor or 0, newest - LOOKBACK_MS)
        kept = {key: at for key, at in merged.items() if at >= floor}
        if len(kept) > MAX_SEEN:
            floor = sorted(kept.values(), reverse=True)[MAX_SEEN - 1]
            kept = {key: at for key, at in kept.items() if at >= floor}
        return Watermark(floor, kept)
