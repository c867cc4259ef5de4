"""Hacker News through the Algolia search API: stories and comments naming a watched term."""

from __future__ import annotations

from collectors.hackernews.collector import HackerNewsCollector, build

__all__ = ["HackerNewsCollector", "build"]
