"""Pure cursor arithmetic: per-stream watermark and a bounded set of recently seen ids.

Reddit's listings overlap from one run to the next and search results trickle in late (its
index lags), so each stream keeps the newest `created_utc` it saw and the fullnames of its most
recent items. An item is new when it is not in that set and not older than the watermark minus
the stream's lookback; everything older is treated as seen (the database dedupes the rest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collectors.reddit.parse import is_epoch
from socialcrm.mention import Cursor


@dataclass(frozen=True, slots=True)
class StreamState:
    """Where one stream (a search, a subreddit listing, the inbox) stands."""

    newest: float = 0.0
    seen: tuple[str, ...] = ()

    def floor(self, lookback: float) -> float:
        """Items created before this are treated as already seen."""
        return self.newest - lookback if self.newest else float("-inf")

    def to_json(self) -> dict[str, Any]:
        """The state as JSON values."""
        return {"newest": self.newest, "seen": list(self.seen)}

    @classmethod
    def from_json(cls, raw: Any) -> StreamState:
        """Read a stored state; anything unreadable starts the stream afresh."""
        if not isinstance(raw, Mapping):
            return cls()
        newest = raw.get("newest", 0.0)
        seen = raw.get("seen", [])
        return cls(
            float(newest) if isinstance(newest, int | float) else 0.0,
            tuple(str(item) for item in seen) if isinstance(seen, list) else (),
        )


def _created(item: Mapping[str, Any]) -> float | None:
    value = item.get("created_utc")
    # an impossible time (year 10000, NaN) must not become the watermark: it would hide
    # every later item behind it forever
    return float(value) if is_epoch(value) else None


def is_behind(item: Mapping[str, Any], state: StreamState, lookback: float) -> bool:
    """Whether `item` is older than the stream's floor (a newest-first listing can stop)."""
    created = _created(item)
    return created is not None and created < state.floor(lookback)


def is_reached(item: Mapping[str, Any], state: StreamState) -> bool:
    """Whether `item` is no newer than the stream's watermark (the last run's position)."""
    created = _created(item)
    return created is not None and created <= state.newest


def select_new(
    items: Sequence[Mapping[str, Any]], state: StreamState, lookback: float
) -> list[Mapping[str, Any]]:
    """The items of a newest-first listing not yielded before, oldest first (undated last)."""
    fresh = [
        item
        for item in reversed(items)
        if item.get("name") not in state.seen and not is_behind(item, state, lookback)
    ]
    return sorted(fresh, key=lambda item: _created(item) or float("inf"))


def advance(state: StreamState, items: Sequence[Mapping[str, Any]], keep: int) -> StreamState:
    """The state after `items` (new or not) were read: newest time, up to `keep` recent ids."""
    dated = [(created, item) for item in items if (created := _created(item)) is not None]
    newest = max([state.newest, *(created for created, _ in dated)])
    ordered = [item for _, item in sorted(dated, key=lambda pair: pair[0], reverse=True)]
    undated = [item for item in items if _created(item) is None]
    names = [str(item["name"]) for item in [*undated, *ordered] if item.get("name")]
    return StreamState(newest, tuple(dict.fromkeys([*names, *state.seen]))[:keep])


def merged(states: Sequence[StreamState]) -> StreamState:
    """One state covering several (streams that became one): oldest watermark, every seen id."""
    # the oldest: a stream that lagged behind the others (its run failed partway) would
    # otherwise skip its items between the positions for good; the seen ids and the
    # database's unique key absorb the overlap
    newest = min((state.newest for state in states if state.newest), default=0.0)
    return StreamState(newest, tuple(dict.fromkeys(n for state in states for n in state.seen)))


def read_states(cursor: Cursor | None) -> dict[str, StreamState]:
    """The per-stream states of a stored cursor."""
    streams = cursor.state.get("streams") if cursor is not None else None
    if not isinstance(streams, Mapping):
        return {}
    return {str(key): StreamState.from_json(raw) for key, raw in streams.items()}


def write_states(states: Mapping[str, StreamState]) -> Cursor:
    """A cursor holding the per-stream states."""
    return Cursor({"streams": {key: state.to_json() for key, state in sorted(states.items())}})
