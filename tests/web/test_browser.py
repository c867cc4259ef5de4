"""The dashboard in headless Chromium (Debian's, never a downloaded one), served by uvicorn.

Logs in, sees the overview's charts drawn, filters mentions, claims a task and sends a reply;
saves a screenshot of the overview to docs/img/dashboard.png and to the test's tmp dir.
"""

from __future__ import annotations

import random
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import Author, Mention
from tests.conftest import ROOT
from tests.engagement.builders import START, FakeResponder, store
from tests.web.conftest import PASSWORD, XSS_TEXT, Seeded

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
WINDOW = "since=2026-10-06&until=2026-11-04"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is absent: install Debian's chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread; its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections wait in the backlog until uvicorn accepts them
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def _month_of_mentions(db: Database) -> None:
    """A month of labelled mentions over four sources, brand and competitor, for the charts."""
    draw = random.Random(7)
    sources = ("mastodon", "reddit", "bluesky", "hackernews")
    queries = ("brand:inkwell", "brand:inkwell", "brand:inkwell", "competitor:quillco")
    words = ("nib", "ink", "refill", "leak", "price", "delivery", "cap", "smooth", "gift")
    for number in range(120):
        day = draw.randrange(28)
        sentiment = draw.choices(("negative", "neutral", "positive"), (2, 3, 4))[0]
        mention = Mention(
            source=draw.choice(sources),
            source_id=f"b{number}",
            text=f"the {draw.choice(words)} and the {draw.choice(words)} of my inkwell pen",
            created_at=START - timedelta(days=day, minutes=number),
            author=Author(handle=f"fan{number % 23}", followers=draw.randrange(10, 20_000)),
            matched_query=draw.choice(queries),
        )
        intent = draw.choice(("complaint", "question", "praise", "purchase"))
        store(db, mention, sentiment, **{intent: 0.9})
    with db.transaction() as session:
        down = START - timedelta(days=12)
        session.add(
            models.CollectorRun(
                source="reddit",
                started_at=down,
                finished_at=down + timedelta(days=2),
                status="error",
                error="HTTP 503 from reddit",
            )
        )


def _screenshot(page: Any, tmp_path: Path) -> None:
    local = tmp_path / "dashboard.png"
    page.screenshot(path=str(local), full_page=True)
    assert local.stat().st_size > 10_000
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(local, SCREENSHOT)


def test_log_in_see_charts_filter_mentions_and_answer_from_the_queue(
    served: str,
    users: dict[str, str],
    seeded: Seeded,
    db: Database,
    responder: FakeResponder,
    tmp_path: Path,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    _month_of_mentions(db)
    dialogs: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )

        page.goto(f"{served}/login?next=/%3F{WINDOW.replace('&', '%26')}")
        page.fill("input[name=name]", "agent")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        charts = page.locator(".js-plotly-plot")
        assert charts.count() >= 5
        assert page.locator(".js-plotly-plot svg.main-svg").count() >= 5
        assert page.locator("#volume").inner_text() == str(4 + 120)
        _screenshot(page, tmp_path)

        page.goto(f"{served}/mentions")
        page.select_option("select[name=sentiment]", "negative")
        page.fill("input[name=q]", "leaks")
        page.click("#mention-filters button[type=submit]")
        page.wait_for_url("**/mentions?*sentiment=negative*")
        rows = page.locator("tr.mention-row")
        assert rows.count() == 1
        assert XSS_TEXT in rows.first.inner_text()  # shown as text, never run

        page.goto(f"{served}/queue")
        page.click(f"a[href='/queue/{seeded.task}'] >> nth=0")
        page.click("button:has-text('Claim')")
        page.wait_for_selector("text=is yours")
        page.fill("textarea[name=text] >> nth=0", "So sorry! A new pen is on its way.")
        page.click("button:has-text('Save draft')")
        page.wait_for_selector("text=draft of task")
        page.click("button:has-text('Send reply')")
        page.wait_for_selector("text=is answered")
        browser.close()

    assert [text for _, text, _ in responder.posted] == ["So sorry! A new pen is on its way."]
    assert dialogs == []  # no injected script ran
    assert problems == []  # no script errors, nothing blocked by the content security policy
