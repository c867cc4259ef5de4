"""Settings: defaults, the committed file, one-line errors, secrets from env and file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import get_origin

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.settings import RuleSettings, Settings, SettingsError, load_settings
from tests.conftest import ROOT

COMMITTED = ROOT / "settings.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _keys(annotation, f"{key}.")
        elif get_origin(annotation) is dict:
            # a table of the user's own keys (templates, channels): its default entries
            keys += [f"{key}.{entry}" for entry in field.get_default(call_default_factory=True)]
        else:
            keys.append(key)
    return keys


def _flatten(table: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_committed_file_sets_every_option_to_its_default() -> None:
    committed = _flatten(tomllib.loads(COMMITTED.read_text()))
    assert sorted(committed) == sorted(_keys(Settings))
    defaults = _flatten(Settings().model_dump(by_alias=True, mode="json"))
    # rules are written with only the conditions they use; the rest take their defaults
    rules = committed.pop("engagement.rules")
    assert isinstance(rules, list)
    expanded = [RuleSettings(**rule).model_dump(mode="json") for rule in rules]
    assert expanded == defaults.pop("engagement.rules")
    assert committed == defaults


def test_every_key_in_the_committed_file_has_a_comment() -> None:
    lines = COMMITTED.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z_]+\s*=", line):
            assert lines[number - 1].startswith("#"), f"settings.toml:{number + 1} has no comment"


def test_no_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings == Settings(base_dir=tmp_path, secrets=settings.secrets)
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'socialcrm.db'}"


def test_relative_data_dir_is_taken_from_the_settings_file_folder(write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings('[app]\ndata_dir = "state"\n', name="conf.toml")
    assert load_settings(path).data_dir == path.parent / "state"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[pipeline]\nbatch_size = "lots"\n',
            r"pipeline\.batch_size = 'lots' is invalid: .*integer",
        ),
        ("[pipeline]\nbatch_size = 0\n", r"pipeline\.batch_size = 0 is invalid: .*greater than"),
        ("[pipelin]\nbatch_size = 3\n", r"unknown key pipelin: remove it or check its spelling"),
        ("[sources.demo]\nenabeld = true\n", r"unknown key sources\.demo\.enabeld"),
        ('[scheduler]\ntimezone = "Mars/Base"\n', r"scheduler\.timezone = 'Mars/Base' .*IANA"),
        ('[app]\nlog_level = "LOUD"\n', r"app\.log_level = 'LOUD' is invalid"),
        (
            '[engagement]\nrules = [{ name = "x", priority = 9 }]\n',
            r"engagement\.rules\.0\.priority = 9 is invalid: .*less than or equal to 5",
        ),
        ('[engagement.business_hours]\nstart = "9am"\n', r"start = '9am' is invalid"),
        ('[app]\nlog_level = "INFO"\nx = = 1\n', r"not valid TOML: .*line 3"),
    ],
)
def test_a_bad_value_is_one_line_naming_key_and_value(write_settings, body, expected) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(body)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert re.search(expected, message), message


def test_a_password_in_the_database_url_is_refused(write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings('[database]\nurl = "postgresql://u:hunter22@db/x"\n')
    with pytest.raises(SettingsError, match="SOCIALCRM_DATABASE_URL"):
        load_settings(path)


def test_cli_exits_2_with_the_key_named(write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings("[pipeline]\ninterval_seconds = -5\n")
    result = CliRunner().invoke(app, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "pipeline.interval_seconds = -5 is invalid" in result.output
    assert "Traceback" not in result.output


def test_cli_exits_2_when_the_config_file_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "nope.toml"), "status"])
    assert result.exit_code == 2
    assert "settings file not found" in result.output


def test_config_env_selects_the_file(write_settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = write_settings("[pipeline]\nbatch_size = 7\n", name="other.toml")
    monkeypatch.setenv("SOCIALCRM_CONFIG", str(path))
    assert load_settings().pipeline.batch_size == 7


def test_secrets_come_from_env_and_secrets_file_env_wins(
    write_settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_settings("")
    (tmp_path / "secrets.env").write_text(
        "SOCIALCRM_DISCORD_TOKEN=from-file\nSOCIALCRM_HUBSPOT_TOKEN=hub-from-file\n"
    )
    monkeypatch.setenv("SOCIALCRM_DISCORD_TOKEN", "from-env")
    secrets = load_settings(path).secrets
    assert secrets.discord_token is not None
    assert secrets.discord_token.get_secret_value() == "from-env"
    assert secrets.hubspot_token is not None
    assert secrets.hubspot_token.get_secret_value() == "hub-from-file"
    assert "from-env" not in repr(secrets)


def test_a_secret_database_url_overrides_the_settings(
    write_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    path = write_settings('[database]\nurl = "postgresql://app@db/x"\n')
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", "postgresql://app:pw@db/x")
    assert load_settings(path).database_url == "postgresql://app:pw@db/x"


def test_an_unknown_key_in_the_secrets_file_is_named_and_the_value_hidden(
    write_settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_settings("")
    (tmp_path / "secrets.env").write_text("SOCIALCRM_DISCROD_TOKEN=abc123secret\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert "SOCIALCRM_DISCROD_TOKEN" in str(caught.value)
    assert "abc123secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "env", "expected"),
    [
        (
            '[crm.webhook]\nenabled = true\nurl = "https://hook.example.org"\n',
            {},
            "set SOCIALCRM_WEBHOOK_SECRET (in the environment or secrets.env)",
        ),
        ("[crm.hubspot]\nenabled = true\n", {}, "set SOCIALCRM_HUBSPOT_TOKEN"),
        (
            "[crm.webhook]\nenabled = true\n",
            {"SOCIALCRM_WEBHOOK_SECRET": "x" * 32},
            '[crm.webhook] an enabled webhook needs url = "https://..."',
        ),
        (
            "[privacy]\npseudonymise_authors = true\n",
            {"SOCIALCRM_PSEUDONYM_KEY": "short"},
            "SOCIALCRM_PSEUDONYM_KEY is too short",
        ),
        ("", {"SOCIALCRM_INGEST_SECRET": "short"}, "SOCIALCRM_INGEST_SECRET is too short"),
        (
            '[discord]\nenabled = true\ndefault_channel = "123456789012345678"\n'
            'guild_id = "123456789012345679"\n',
            {},
            "set SOCIALCRM_DISCORD_TOKEN",
        ),
        (
            '[discord]\nenabled = true\nguild_id = "123456789012345679"\n',
            {"SOCIALCRM_DISCORD_TOKEN": "x"},
            "[discord] set discord.default_channel (a channel id) or discord.channels",
        ),
        (
            '[discord]\nenabled = true\ndefault_channel = "123456789012345678"\n',
            {"SOCIALCRM_DISCORD_TOKEN": "x"},
            "[discord] set discord.guild_id (your server's id): the bot works only there",
        ),
        (
            '[engagement.business_hours]\nstart = "18:00"\nend = "09:00"\n',
            {},
            "[engagement.business_hours] business hours start must be before end",
        ),
        (
            '[engagement]\nrules = [{ name = "a" }, { name = "a" }]\n',
            {},
            "two routing rules are named 'a'",
        ),
        (
            "[crm]\nlink_threshold = 0.3\nsuggest_threshold = 0.5\n",
            {},
            "[crm] suggest_threshold must not be above link_threshold",
        ),
    ],
)
def test_rules_across_keys_are_one_line(  # type: ignore[no-untyped-def]
    write_settings, monkeypatch: pytest.MonkeyPatch, body: str, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings(write_settings(body))
    message = str(error.value)
    assert expected in message
    assert "\n" not in message
