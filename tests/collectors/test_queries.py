"""Watch terms: phrases on word boundaries, exclusions veto, the found term is recorded."""

from __future__ import annotations

from collectors.queries import Query, QueryKind, Watch
from socialcrm.settings import RedditSourceSettings, WatchSettings


def _watch(**source: object) -> Watch:
    watch = WatchSettings(
        brand=["Inkwell", "inkwell app"], competitors=["Quillpad"], exclude=["ink cartridge"]
    )
    return Watch.from_settings(watch, RedditSourceSettings(**source))  # type: ignore[arg-type]


def test_terms_are_brand_then_competitor_then_keyword_without_repeats() -> None:
    watch = _watch(keywords=["notes app", "Inkwell"], exclude=["job ad"])
    assert [q.label for q in watch.terms] == [
        "brand:Inkwell",
        "brand:inkwell app",
        "competitor:Quillpad",
        "keyword:notes app",
        "keyword:Inkwell",
    ]
    assert watch.exclude == ("ink cartridge", "job ad")


def test_matching_is_case_insensitive_on_word_boundaries() -> None:
    watch = _watch()
    assert watch.find("I love INKWELL!") == Query(QueryKind.BRAND, "Inkwell")
    assert watch.find("inkwells are old") is None
    assert watch.find("switched from quillpad") == Query(QueryKind.COMPETITOR, "Quillpad")


def test_phrases_match_across_any_whitespace() -> None:
    watch = Watch((Query(QueryKind.KEYWORD, "notes app"),))
    assert watch.find("best notes\n  app ever") is not None
    assert watch.find("notes application") is None
    assert Query(QueryKind.KEYWORD, "notes app").is_phrase


def test_symbols_in_terms_are_literal() -> None:
    watch = Watch((Query(QueryKind.KEYWORD, "c++"), Query(QueryKind.HASHTAG, "#ink")))
    assert watch.find("written in c++, fast") == Query(QueryKind.KEYWORD, "c++")
    assert watch.find("cxx") is None
    assert watch.find("love #ink") == Query(QueryKind.HASHTAG, "#ink")


def test_the_label_prefers_a_term_in_the_text_and_exclusions_drop() -> None:
    watch = _watch()
    stream = Query(QueryKind.SUBREDDIT, "inkwell")
    assert watch.label_for("anyone tried Quillpad?", stream) == "competitor:Quillpad"
    assert watch.label_for("hello there", stream) == "subreddit:inkwell"
    assert watch.label_for("Inkwell ink cartridge for sale", stream) is None
