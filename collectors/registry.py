"""Sources by name: the built-ins and plugins (entry points), and which the settings switch on.

A built-in module exposes `build(settings) -> Collector` and, when the platform can be answered
on, `build_responder(settings) -> Responder`. Modules are imported only when used, so a source
that is switched off costs nothing at start-up. A plugin registers a `build` callable under the
entry point group `socialcrm.collectors` (and optionally `socialcrm.responders`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from collectors.base import Collector, Responder, SourceConfigError
from socialcrm.settings import PLUGIN_GROUP, Settings

log = logging.getLogger(__name__)

RESPONDER_GROUP = "socialcrm.responders"

BUILTIN: dict[str, str] = {
    "demo": "collectors.demo",
    "reddit": "collectors.reddit",
    "mastodon": "collectors.mastodon",
    "bluesky": "collectors.bluesky",
    "hackernews": "collectors.hackernews",
    "rss": "collectors.rss",
}


def known_sources() -> list[str]:
    """Every source that can be switched on: built-ins, then installed plugins."""
    plugins = sorted(entry.name for entry in entry_points(group=PLUGIN_GROUP))
    return [*BUILTIN, *(name for name in plugins if name not in BUILTIN)]


def _factory(name: str, attribute: str, group: str) -> Callable[[Settings], Any] | None:
    if name in BUILTIN:
        module = importlib.import_module(BUILTIN[name])
        factory: Callable[[Settings], Any] | None = getattr(module, attribute, None)
        return factory
    for entry in entry_points(group=group, name=name):
        loaded: Callable[[Settings], Any] = entry.load()
        return loaded
    return None


def build(name: str, settings: Settings) -> Collector:
    """The collector called `name`, configured from `settings`."""
    factory = _factory(name, "build", PLUGIN_GROUP)
    if factory is None:
        known = ", ".join(known_sources())
        raise SourceConfigError(f"no source named {name!r}; known sources: {known}")
    collector = factory(settings)
    if not isinstance(collector, Collector):
        raise SourceConfigError(f"source {name!r} did not build a collector: {collector!r}")
    return collector


def build_responder(name: str, settings: Settings) -> Responder:
    """The responder that answers mentions of source `name`."""
    factory = _factory(name, "build_responder", RESPONDER_GROUP)
    if factory is None:
        raise SourceConfigError(f"source {name!r} cannot be replied to from socialcrm; link out")
    responder = factory(settings)
    if not isinstance(responder, Responder):
        raise SourceConfigError(f"source {name!r} did not build a responder: {responder!r}")
    return responder


def build_enabled(settings: Settings) -> dict[str, Collector]:
    """Every source switched on in the settings, by name."""
    return {name: build(name, settings) for name in settings.sources.enabled()}


def interval_seconds(name: str, settings: Settings, collector: Collector) -> tuple[int, bool]:
    """The interval to run `name` at, and whether the settings asked for less than its minimum."""
    table = settings.sources.table(name)
    configured = table.interval_seconds if table else collector.min_interval_seconds
    return max(
        configured, collector.min_interval_seconds
    ), configured < collector.min_interval_seconds
