"""The scheduled digest as chat draws it: the period's report with its charts attached."""

from __future__ import annotations

from datetime import timedelta

from socialcrm.cli import chat_digest
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import START, post, store


def test_the_digest_has_the_periods_numbers_and_png_charts(db: Database) -> None:
    for number in range(3):
        store(db, post(number, handle=f"u{number}"), "negative", complaint=0.9)
    draw = chat_digest(Settings())
    with db.transaction() as session:
        content = draw(session, START - timedelta(days=6), START + timedelta(days=1))
    assert content.content is not None
    assert content.content.startswith("**Weekly report**")
    assert "3 mentions" in content.content
    assert content.embed is not None
    assert content.embed["image"]["url"] == "attachment://sentiment.png"
    assert [name for name, _ in content.files] == ["sentiment.png", "volume.png"]
    assert all(data.startswith(b"\x89PNG") for _, data in content.files)


def test_a_source_named_like_tex_is_drawn_as_text(db: Database) -> None:
    # a pushed or imported mention names its own source; matplotlib must not parse it as TeX
    store(db, post(1, source="$\\nosuchcmd{$"), "negative", complaint=0.9)
    draw = chat_digest(Settings())
    with db.transaction() as session:
        content = draw(session, START - timedelta(days=6), START + timedelta(days=1))
    assert all(data.startswith(b"\x89PNG") for _, data in content.files)
