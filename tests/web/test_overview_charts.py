"""The overview's chart figures as the page embeds them: real values, hostile names escaped."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from socialcrm.pseudonym import keyed_hash
from socialcrm.settings import Settings
from socialcrm.web import auth
from tests.web.conftest import PRIVATE_HANDLE, XSS_HANDLE, Seeded

RoleClient = Callable[[str], TestClient]
WINDOW = "since=2026-11-01&until=2026-12-01"


def _figures(client: TestClient) -> dict[str, Any]:
    page = client.get(f"/?{WINDOW}")
    assert page.status_code == 200
    found = re.findall(
        r'<script type="application/json" data-chart="([\w-]+)">(.*?)</script>', page.text, re.S
    )
    for _, body in found:
        assert not set(body) & {"<", ">", "&"}  # nothing in it can end its element
    return {chart_id: json.loads(body) for chart_id, body in found}


def test_the_overview_embeds_the_figures_of_its_window(as_role: RoleClient, seeded: Seeded) -> None:
    figures = _figures(as_role("admin"))
    assert len(figures) == 10
    trend = {t["name"]: sum(t["y"]) for t in figures["chart-sentiment_trend"]["data"][:4]}
    assert trend == {"negative": 2, "neutral": 1, "positive": 1, "unlabelled": 0}
    (voice,) = figures["chart-share_of_voice"]["data"]
    assert (voice["labels"], voice["values"]) == (["brand"], [4])
    (authors,) = figures["chart-top_authors"]["data"]
    assert authors["y"] == [
        "bea (mastodon)",
        f"{html.escape(XSS_HANDLE)} (mastodon)",  # Plotly shows it as text, never as markup
        f"{PRIVATE_HANDLE} (mastodon)",
    ]
    assert authors["x"] == [0, 10, 5000]
    assert authors["text"] == ["1 mentions", "2 mentions", "1 mentions"]
    assert figures["chart-top_authors"]["layout"]["title"]["text"] == "Top authors by reach"


def test_analysts_see_top_authors_pseudonymised(
    as_role: RoleClient, seeded: Seeded, settings: Settings
) -> None:
    (authors,) = _figures(as_role("analyst"))["chart-top_authors"]["data"]
    key = auth.pseudonym_key(settings)
    handles = ("bea", XSS_HANDLE, PRIVATE_HANDLE)
    assert authors["y"] == [f"{keyed_hash(handle, key)} (mastodon)" for handle in handles]
