"""The built-in collectors by name, and which of them the settings switch on."""

from __future__ import annotations

from collections.abc import Callable

from collectors.base import Collector, SourceConfigError
from collectors.demo import DemoCollector
from socialcrm.settings import Settings

Factory = Callable[[Settings], Collector]

BUILTIN: dict[str, Factory] = {
    "demo": lambda settings: DemoCollector(per_run=settings.sources.demo.per_run),
}


def build(name: str, settings: Settings) -> Collector:
    """The collector called `name`, configured from `settings`."""
    factory = BUILTIN.get(name)
    if factory is None:
        known = ", ".join(sorted(BUILTIN))
        raise SourceConfigError(f"no source named {name!r}; known sources: {known}")
    return factory(settings)


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
