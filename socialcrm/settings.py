"""Typed settings from `settings.toml`, secrets from the environment; validated once at start-up."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CONFIG_ENV = "SOCIALCRM_CONFIG"
SECRETS_FILE_ENV = "SOCIALCRM_SECRETS_FILE"
DEFAULT_CONFIG = Path("settings.toml")
DEFAULT_SECRETS_FILE = "secrets.env"

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


class SourceSettings(_Section):
    """What every source shares: whether it runs and how often."""

    enabled: bool = False
    interval_seconds: Seconds = 300


class DemoSourceSettings(SourceSettings):
    """The built-in demo source: sample mentions written by the project, no network."""

    interval_seconds: Seconds = 10
    per_run: int = Field(default=5, ge=1, le=1000)


class SourcesSettings(_Section):
    """One table per source."""

    demo: DemoSourceSettings = DemoSourceSettings()

    def table(self, name: str) -> SourceSettings | None:
        """The settings table of source `name`, if it has one."""
        table = getattr(self, name, None) if name in type(self).model_fields else None
        return table if isinstance(table, SourceSettings) else None

    def enabled(self) -> list[str]:
        """The names of the sources switched on."""
        return [name for name in type(self).model_fields if getattr(self, name).enabled]


class ImportSettings(_Section):
    """`socialcrm import` of JSON Lines / CSV exports."""

    default_source: str = Field(default="import", min_length=1)
    page_size: int = Field(default=5000, ge=1, le=50_000)


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
    scheduler: SchedulerSettings = SchedulerSettings()
    sources: SourcesSettings = SourcesSettings()
    import_: ImportSettings = Field(default=ImportSettings(), alias="import")
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @property
    def data_dir(self) -> Path:
        """The data directory, relative paths taken from the settings file's folder."""
        return (self.base_dir / self.app.data_dir).resolve()

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
