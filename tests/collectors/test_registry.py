"""The registry: built-ins by name, third-party sources through entry points, responders."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import registry
from collectors.base import SourceConfigError
from socialcrm.settings import SettingsError, load_settings

PLUGIN = """
from tests.fakes import FakeCollector, mention


def build(settings):
    table = settings.sources.plugin_table("acme")
    return FakeCollector([mention(1, source="acme")], name="acme:" + table["board"])
"""


@pytest.fixture
def acme_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution that registers the `acme` source, as pip would leave it."""
    site = tmp_path / "site"
    info = site / "acme_socialcrm-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "acme_socialcrm.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-socialcrm\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[socialcrm.collectors]\nacme = acme_socialcrm:build\n")
    monkeypatch.syspath_prepend(str(site))


def test_a_plugin_source_is_configured_enabled_and_built(acme_plugin: None, write_settings) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        write_settings('[sources.acme]\nenabled = true\ninterval_seconds = 600\nboard = "news"\n')
    )
    assert "acme" in registry.known_sources()
    assert settings.sources.enabled() == ["acme"]
    table = settings.sources.table("acme")
    assert table is not None
    assert table.interval_seconds == 600
    collectors = registry.build_enabled(settings)
    assert collectors["acme"].name == "acme:news"


def test_a_table_for_a_source_that_is_not_installed_is_a_settings_error(write_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as caught:
        load_settings(write_settings("[sources.myspace]\nenabled = true\n"))
    message = str(caught.value)
    assert "no source named 'myspace' is installed" in message
    assert "reddit" in message
    assert "\n" not in message


def test_a_plugin_table_is_checked_for_the_common_keys(acme_plugin: None, write_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="interval_seconds"):
        load_settings(write_settings('[sources.acme]\ninterval_seconds = "often"\n'))


def test_link_out_sources_have_no_responder(write_settings) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(write_settings(""))
    with pytest.raises(SourceConfigError, match="cannot be replied to"):
        registry.build_responder("hackernews", settings)


def test_an_unknown_source_lists_the_known_ones(write_settings) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(write_settings(""))
    with pytest.raises(SourceConfigError, match="known sources: demo, reddit, mastodon"):
        registry.build("myspace", settings)


def test_a_plugin_setting_that_is_not_a_table_is_one_line(
    acme_plugin: None, write_settings
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match=r"\[sources.acme\] must be a table"):
        load_settings(write_settings('[sources]\nacme = "on"\n'))
