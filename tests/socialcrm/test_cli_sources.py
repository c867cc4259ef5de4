"""`socialcrm collect --once --source NAME` against platforms served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from socialcrm.cli import app
from tests.loopback import Loopback, json_answer, serving

FIXTURES = Path(__file__).resolve().parent.parent / "collectors" / "fixtures"


@pytest.fixture
def platform() -> Iterator[Loopback]:
    with serving(Loopback()) as loopback:
        yield loopback


def _collect(write_settings, settings: str, source: str) -> Result:  # type: ignore[no-untyped-def]
    path = write_settings('[watch]\nbrand = ["Inkwell"]\n' + settings)
    return CliRunner().invoke(app, ["--config", str(path), "collect", "--once", "--source", source])


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_hackernews_collects_once(write_settings, platform: Loopback) -> None:  # type: ignore[no-untyped-def]
    page = (FIXTURES / "hackernews" / "quillpad_page0.json").read_bytes()
    platform.routes[("GET", "/api/v1/search")] = lambda _q, _b: json_answer({"hits": []})
    platform.routes[("GET", "/api/v1/search_by_date")] = lambda _q, _b: (
        200,
        "application/json",
        page,
    )
    result = _collect(
        write_settings, f'[sources.hackernews]\napi_url = "{platform.url}/api/v1"\n', "hackernews"
    )
    assert result.exit_code == 0, result.output
    assert "hackernews: 2 new, 0 already known" in result.output
    again = _collect(
        write_settings, f'[sources.hackernews]\napi_url = "{platform.url}/api/v1"\n', "hackernews"
    )
    assert "hackernews: 0 new" in again.output


def test_rss_collects_once(write_settings, platform: Loopback) -> None:  # type: ignore[no-untyped-def]
    feed = (FIXTURES / "rss" / "blog.xml").read_bytes()
    platform.routes[("GET", "/feed.xml")] = lambda _q, _b: (200, "application/rss+xml", feed)
    result = _collect(
        write_settings, f'[sources.rss]\nfeeds = ["{platform.url}/feed.xml"]\n', "rss"
    )
    assert result.exit_code == 0, result.output
    assert "rss: 2 new" in result.output


def test_a_feed_that_is_gone_is_one_line_and_exit_2(write_settings, platform: Loopback) -> None:  # type: ignore[no-untyped-def]
    result = _collect(
        write_settings, f'[sources.rss]\nfeeds = ["{platform.url}/gone.xml"]\n', "rss"
    )
    assert result.exit_code == 2
    assert len(_error_lines(result)) == 1
    assert "gone.xml" in _error_lines(result)[0]
    assert "Traceback" not in result.output


def test_bluesky_without_credentials_names_what_to_set(write_settings) -> None:  # type: ignore[no-untyped-def]
    result = _collect(write_settings, "[sources.bluesky]\nenabled = true\n", "bluesky")
    assert result.exit_code == 2
    [line] = _error_lines(result)
    assert "sources.bluesky.handle" in line or "SOCIALCRM_BLUESKY_APP_PASSWORD" in line


def test_bluesky_with_a_wrong_password_is_disabled_with_one_line(
    write_settings, platform: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    refused = {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
    platform.routes[("POST", "/xrpc/com.atproto.server.createSession")] = lambda _q, _b: (
        json_answer(refused, 401)
    )
    monkeypatch.setenv("SOCIALCRM_BLUESKY_APP_PASSWORD", "wrong-password-123")
    settings = f'[sources.bluesky]\nservice = "{platform.url}"\nhandle = "brand.test"\n'
    result = _collect(write_settings, settings, "bluesky")
    assert result.exit_code == 2
    [line] = _error_lines(result)
    assert "SOCIALCRM_BLUESKY_APP_PASSWORD" in line
    assert "wrong-password-123" not in result.output
    status = CliRunner().invoke(app, ["--config", str(Path("settings.toml").resolve()), "status"])
    assert "disabled" in status.output


def test_reddit_without_credentials_names_the_variables(write_settings) -> None:  # type: ignore[no-untyped-def]
    result = _collect(write_settings, "[sources.reddit]\nenabled = true\n", "reddit")
    assert result.exit_code == 2
    [line] = _error_lines(result)
    assert "SOCIALCRM_REDDIT_CLIENT_ID" in line


def test_mastodon_with_a_revoked_token_is_one_line(
    write_settings, platform: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    revoked = {"error": "The access token was revoked"}
    platform.routes[("GET", "/api/v1/accounts/verify_credentials")] = lambda _q, _b: json_answer(
        revoked, 401
    )
    monkeypatch.setenv("SOCIALCRM_MASTODON_ACCESS_TOKEN", "revoked-token-456")
    result = _collect(
        write_settings, f'[sources.mastodon]\ninstance = "{platform.url}"\n', "mastodon"
    )
    assert result.exit_code == 2
    [line] = _error_lines(result)
    assert "SOCIALCRM_MASTODON_ACCESS_TOKEN" in line
    assert "revoked-token-456" not in result.output
