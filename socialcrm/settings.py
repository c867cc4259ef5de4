"""Typed settings from `settings.toml`, secrets from the environment; validated once at start-up."""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CONFIG_ENV = "SOCIALCRM_CONFIG"
SECRETS_FILE_ENV = "SOCIALCRM_SECRETS_FILE"
DEFAULT_CONFIG = Path("settings.toml")
DEFAULT_SECRETS_FILE = "secrets.env"
PLUGIN_GROUP = "socialcrm.collectors"

Seconds = Annotated[int, Field(ge=1)]


class SettingsError(Exception):
    """A settings file or value a user must fix; the message is one line that says how."""


class _Section(BaseModel):
    """A settings table: immutable, and unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSettings(_Section):
    """Where socialcrm keeps its files and how much it logs."""

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DatabaseSettings(_Section):
    """The database; empty `url` means SQLite under `app.data_dir`."""

    url: str = ""
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _url_is_valid_and_has_no_password(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "expected an SQLAlchemy URL such as postgresql://user@host/db"
            ) from None
        if url.password:
            raise ValueError("a password belongs in SOCIALCRM_DATABASE_URL, not in settings.toml")
        return value


class PipelineSettings(_Section):
    """How often and in what batches the pipeline moves mentions through its stages."""

    interval_seconds: Seconds = 30
    batch_size: int = Field(default=500, ge=1, le=10_000)


class SchedulerSettings(_Section):
    """The one scheduler of a deployment."""

    timezone: str = "UTC"
    misfire_grace_seconds: Seconds = 300
    max_workers: int = Field(default=4, ge=1, le=32)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as UTC or Europe/Berlin") from None
        return value


Url = Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
Terms = Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=100)]
Names = list[Annotated[str, Field(min_length=1, pattern=r"^[^\s/]+$")]]


class WatchSettings(_Section):
    """What every source listens for: the brand, its competitors, and what to leave out."""

    brand: Terms = []
    competitors: Terms = []
    exclude: Terms = []


class SourceSettings(_Section):
    """What every source shares: whether it runs, how often, and when its silence is an alert."""

    enabled: bool = False
    interval_seconds: Seconds = 300
    alert_after_minutes: int = Field(default=120, ge=1)


class SearchSourceSettings(SourceSettings):
    """A source that searches for terms: extra keywords and exclusions beyond `[watch]`."""

    keywords: Terms = []
    exclude: Terms = []


class DemoSourceSettings(SourceSettings):
    """The built-in demo source: sample mentions written by the project, no network."""

    interval_seconds: Seconds = 10
    per_run: int = Field(default=5, ge=1, le=1000)


class RedditSourceSettings(SearchSourceSettings):
    """Reddit through praw: searches, watched subreddits, the account's inbox."""

    interval_seconds: Seconds = 120
    user_agent: str = Field(default="socialcrm/0.1 (self-hosted social CRM)", min_length=1)
    search_subreddits: Names = ["all"]
    subreddits: Names = []
    inbox: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


class MastodonSourceSettings(SearchSourceSettings):
    """Mastodon through Mastodon.py: hashtags, search and the brand account's mentions."""

    interval_seconds: Seconds = 120
    instance: Url = "https://mastodon.social"
    extra_instances: list[Url] = []
    hashtags: Names = []
    search: bool = True
    notifications: bool = False
    limit: int = Field(default=40, ge=1, le=40)


class BlueskySourceSettings(SearchSourceSettings):
    """Bluesky over XRPC: post search and the account's mention/reply notifications."""

    interval_seconds: Seconds = 120
    service: Url = "https://bsky.social"
    handle: str = ""
    search: bool = True
    notifications: bool = True
    limit: int = Field(default=100, ge=1, le=100)


class HackerNewsSourceSettings(SearchSourceSettings):
    """Hacker News through the Algolia search API: stories and comments, no account needed."""

    interval_seconds: Seconds = 300
    alert_after_minutes: int = Field(default=720, ge=1)
    api_url: Url = "https://hn.algolia.com/api/v1"
    limit: int = Field(default=100, ge=1, le=1000)


class RssSourceSettings(SourceSettings):
    """RSS and Atom feeds (blogs, news, Google Alerts): every new entry is a mention."""

    interval_seconds: Seconds = 900
    alert_after_minutes: int = Field(default=1440, ge=1)
    feeds: list[Url] = []
    match_terms: bool = False


class SourcesSettings(_Section):
    """One table per source; tables of installed plugins (entry points) are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    demo: DemoSourceSettings = DemoSourceSettings()
    reddit: RedditSourceSettings = RedditSourceSettings()
    mastodon: MastodonSourceSettings = MastodonSourceSettings()
    bluesky: BlueskySourceSettings = BlueskySourceSettings()
    hackernews: HackerNewsSourceSettings = HackerNewsSourceSettings()
    rss: RssSourceSettings = RssSourceSettings()

    @model_validator(mode="after")
    def _plugin_tables_name_installed_plugins(self) -> SourcesSettings:
        plugins = plugin_names()
        for name, table in (self.model_extra or {}).items():
            if name not in plugins:
                known = ", ".join(sorted([*type(self).model_fields, *plugins]))
                raise ValueError(f"no source named {name!r} is installed (known: {known})")
            if not isinstance(table, dict):
                # pydantic reports only ValueError as a validation error
                raise ValueError(f"[sources.{name}] must be a table")  # noqa: TRY004
            SourceSettings.model_validate(_common_keys(table))
        return self

    def table(self, name: str) -> SourceSettings | None:
        """The settings table of source `name`, if it has one (plugins: only the common keys)."""
        if name in type(self).model_fields:
            table = getattr(self, name)
            return table if isinstance(table, SourceSettings) else None
        raw = (self.model_extra or {}).get(name)
        return SourceSettings.model_validate(_common_keys(raw)) if raw is not None else None

    def plugin_table(self, name: str) -> dict[str, Any]:
        """The raw table of plugin source `name`, for the plugin to validate itself."""
        return dict((self.model_extra or {}).get(name) or {})

    def enabled(self) -> list[str]:
        """The names of the sources switched on, built-ins first."""
        names = [*type(self).model_fields, *(self.model_extra or {})]
        return [name for name in names if (table := self.table(name)) and table.enabled]


def plugin_names() -> set[str]:
    """Names of the collectors that other packages install (entry points)."""
    return {entry.name for entry in entry_points(group=PLUGIN_GROUP)}


def _common_keys(table: dict[str, Any]) -> dict[str, Any]:
    return {key: table[key] for key in SourceSettings.model_fields if key in table}


class ImportSettings(_Section):
    """`socialcrm import` of JSON Lines / CSV exports."""

    default_source: str = Field(default="import", min_length=1)
    page_size: int = Field(default=5000, ge=1, le=50_000)


class NlpSettings(_Section):
    """The classify stage: which model, when a label counts as uncertain, and languages."""

    # Empty: the model shipped with socialcrm (offline). Otherwise a folder written by
    # `socialcrm nlp train`.
    model_dir: str = ""
    # Empty: sentiment from the shipped model. Otherwise a Hugging Face model id or local folder
    # of a 3-class sentiment model (negative/neutral/positive), e.g. for users who are online.
    sentiment_model: str = ""
    # Folder of editable few-shot example files (<intent>.txt); empty: the shipped examples.
    examples_dir: str = ""
    # A sentiment whose calibrated probability is below this is "uncertain" (sent to a person).
    uncertain_below: float = Field(default=0.6, ge=0.0, le=1.0)
    # Text detected as another language with at least this confidence gets no English labels.
    language_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # Languages the model labels (ISO 639-1 codes).
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    # Texts per forward pass.
    batch_size: int = Field(default=64, ge=1, le=1024)


class Secrets(BaseSettings):
    """Credentials: only from `SOCIALCRM_*` environment variables or the git-ignored file."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCRM_", extra="forbid", frozen=True)

    database_url: SecretStr | None = None
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_username: SecretStr | None = None
    reddit_password: SecretStr | None = None
    mastodon_access_token: SecretStr | None = None
    bluesky_app_password: SecretStr | None = None
    discord_token: SecretStr | None = None
    hubspot_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None

    def values(self) -> list[str]:
        """Every secret value that is set, for masking in logs."""
        fields = (getattr(self, name) for name in type(self).model_fields)
        return [field.get_secret_value() for field in fields if field is not None]


class Settings(_Section):
    """Everything socialcrm is configured with."""

    app: AppSettings = AppSettings()
    database: DatabaseSettings = DatabaseSettings()
    pipeline: PipelineSettings = PipelineSettings()
    watch: WatchSettings = WatchSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    sources: SourcesSettings = SourcesSettings()
    import_: ImportSettings = Field(default=ImportSettings(), alias="import")
    nlp: NlpSettings = NlpSettings()
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @property
    def data_dir(self) -> Path:
        """The data directory, relative paths taken from the settings file's folder."""
        return (self.base_dir / self.app.data_dir).resolve()

    def path(self, value: Path) -> Path:
        """A configured path, relative ones taken from the settings file's folder."""
        return (self.base_dir / value).resolve()

    @property
    def database_url(self) -> str:
        """The database to use: the secret URL, the configured one, or SQLite in the data dir."""
        if self.secrets.database_url is not None:
            return self.secrets.database_url.get_secret_value()
        return self.database.url or f"sqlite:///{self.data_dir / 'socialcrm.db'}"


def load_settings(path: Path | None = None) -> Settings:
    """Read, validate and return the settings; raise `SettingsError` with one line to fix."""
    explicit = path is not None or CONFIG_ENV in os.environ
    config = Path(path) if path is not None else Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))
    if explicit and not config.is_file():
        raise SettingsError(
            f"settings file not found: {config} (pass --config PATH to a TOML file)"
        )
    raw = _read_toml(config) if config.is_file() else {}
    base_dir = config.resolve().parent
    secrets = _load_secrets(base_dir)
    try:
        return Settings.model_validate({**raw, "secrets": secrets, "base_dir": base_dir})
    except ValidationError as error:
        raise SettingsError(_one_line(config, error)) from None


def _read_toml(config: Path) -> dict[str, Any]:
    try:
        with config.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{config}: not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(f"{config}: cannot be read: {error.strerror}") from None


def _load_secrets(base_dir: Path) -> Secrets:
    """Environment variables win over the secrets file, which is optional."""
    secrets_file = Path(os.environ.get(SECRETS_FILE_ENV, base_dir / DEFAULT_SECRETS_FILE))
    env_file = secrets_file if secrets_file.is_file() else None
    try:
        return Secrets(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        raise SettingsError(_one_line(secrets_file, error, secret=True)) from None


def _one_line(source: Path, error: ValidationError, secret: bool = False) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if secret:
        key = f"SOCIALCRM_{key.upper()}"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key {key}: remove it or check its spelling"
    value = "***" if secret else repr(first["input"])
    expected = first["msg"].removeprefix("Value error, ")
    return f"{source}: {key} = {value} is invalid: {expected}"
