"""RSS and Atom feeds (blogs, news, Google Alerts): every new entry is a mention."""

from __future__ import annotations

from collectors.rss.collector import RssCollector, build

__all__ = ["RssCollector", "build"]
