"""The weekly digest: headline numbers, coverage, PNG charts attached."""

from __future__ import annotations

from reports import digest
from socialcrm.db import Database
from tests.reports import builders as b


def test_weekly_digest_has_the_numbers_and_the_charts(db: Database) -> None:
    ada = b.author(db, "ada")
    for day in range(7):
        b.mention(db, ada, b.at(day, 3), sentiment="negative" if day < 2 else "positive")
    b.mention(db, ada, b.at(-3), sentiment="neutral")  # the week before
    b.run(db, "reddit", b.at(2), "error", "boom")
    b.runs(db, "reddit", b.at(2, 6), b.at(7))  # collecting again, every 15 minutes
    with db.transaction() as session:
        found = digest.weekly(session, b.at(7), sources=["reddit"])
    fields = {field["name"]: field["value"] for field in found.embed["fields"]}
    assert fields["Mentions"] == "7 (+600% on the period before)"
    assert fields["Sentiment"] == "negative 29%, positive 71%"
    assert fields["Coverage"] == "reddit failing 6 h"
    assert "7 mentions" in found.content
    assert [name for name, _ in found.files] == ["sentiment.png", "volume.png"]
    assert all(data.startswith(b"\x89PNG") for _, data in found.files)
    assert found.embed["image"]["url"] == "attachment://sentiment.png"


def test_an_empty_week_says_so(db: Database) -> None:
    with db.transaction() as session:
        found = digest.weekly(session, b.at(7), days=3)
    fields = {field["name"]: field["value"] for field in found.embed["fields"]}
    assert fields["Mentions"] == "0 (no mentions the period before)"
    assert fields["Brand health"] == "-"
    assert found.embed["title"].startswith("3-day report")


def test_plain_text_cannot_format_or_ping() -> None:
    assert digest.plain("@everyone **x** <@1>") == r"\@everyone \*\*x\*\* \<\@1\>"
