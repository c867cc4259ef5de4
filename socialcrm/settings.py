"""Typed settings from `settings.toml`, secrets from the environment; validated once at start-up."""

from __future__ import annotations

import os
import tomllib
from datetime import date
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
SourceName = Annotated[str, Field(min_length=1, max_length=64)]  # mentions.source holds 64
MIN_PSEUDONYM_KEY = 16  # characters of SOCIALCRM_PSEUDONYM_KEY


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
        return known_timezone(value)


def known_timezone(value: str) -> str:
    """`value` if it names an IANA time zone; a one-line error otherwise."""
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
    batch_size: int = Field(default=128, ge=1, le=1024)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class WebhookSettings(_Section):
    """The signed outbound webhook (secret: SOCIALCRM_WEBHOOK_SECRET)."""

    enabled: bool = False
    url: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _enabled_needs_url(self) -> WebhookSettings:
        if self.enabled and not self.url.startswith(("http://", "https://")):
            raise ValueError('an enabled webhook needs url = "https://..."')
        return self


class HubSpotSettings(_Section):
    """HubSpot contacts and notes (token: SOCIALCRM_HUBSPOT_TOKEN, a private app's token)."""

    enabled: bool = False
    api_url: Url = "https://api.hubapi.com"
    # Contacts are upserted by this unique property: "email", or a custom property holding the
    # customer's CRM id for customers without an email.
    id_property: str = Field(default="email", min_length=1)
    # A note on the contact for every pushed mention.
    notes: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Read contacts back into customer records every pull_interval_minutes (`crm pull` at once).
    pull: bool = False
    pull_interval_minutes: int = Field(default=60, ge=5)
    # Contact properties kept as customer attributes besides email, names and website.
    pull_properties: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = []


class EngagementWeights(_Section):
    """How much each kind of interaction adds to a customer's engagement score."""

    mention: float = 1.0
    question: float = 2.0
    complaint: float = 2.0
    praise: float = 3.0
    purchase_intent: float = 5.0
    reply: float = 2.0
    staff_action: float = 1.0


class CrmSettings(_Section):
    """Linking authors to customers, enriched profiles, and what is pushed to the CRM."""

    # An author is linked to a customer automatically at or above this confidence.
    link_threshold: Probability = 0.85
    # Links at or above this (and below link_threshold) are suggested to staff.
    suggest_threshold: Probability = 0.4
    # Authors not linked to a customer are pushed only when a mention has one of these intents
    # with at least push_intent_probability.
    push_unlinked_intents: list[str] = ["purchase_intent"]
    push_intent_probability: Probability = 0.7
    # Engagement decays by half in this many days.
    engagement_half_life_days: float = Field(default=30.0, gt=0)
    engagement_weights: EngagementWeights = EngagementWeights()
    # Customer attribute (from the CRM import) that ABC segments rank by, e.g. revenue.
    value_field: str = "revenue"
    # A: the customers making up the first segment_a_share of the total value; B: up to
    # segment_b_share; C: the rest.
    segment_a_share: Probability = 0.8
    segment_b_share: Probability = 0.95
    # Churn risk: mean sentiment (-1..1) of the last churn_window_days fell by at least
    # churn_drop against the window before it, with churn_min_mentions in each.
    churn_window_days: int = Field(default=30, ge=1)
    churn_drop: float = Field(default=0.5, gt=0, le=2)
    churn_min_mentions: int = Field(default=2, ge=1)
    # The outbox: how often it is sent, and how failed deliveries are retried.
    sync_interval_seconds: Seconds = 60
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: Seconds = 30
    retry_max_seconds: Seconds = 3600
    webhook: WebhookSettings = WebhookSettings()
    hubspot: HubSpotSettings = HubSpotSettings()

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> CrmSettings:
        if self.suggest_threshold > self.link_threshold:
            raise ValueError("suggest_threshold must not be above link_threshold")
        if self.segment_a_share > self.segment_b_share:
            raise ValueError("segment_a_share must not be above segment_b_share")
        return self


Days = Annotated[int, Field(ge=0)]


class RetentionSettings(_Section):
    """Days each kind of record is kept (0: for ever); a daily job deletes what is older."""

    mentions_days: Days = 730
    quarantine_days: Days = 30
    collector_runs_days: Days = 90
    outbox_sent_days: Days = 30
    outbox_dead_days: Days = 90
    audit_log_days: Days = 730
    customer_history_days: Days = 365
    chat_alerts_days: Days = 90
    incidents_days: Days = 365
    # Hour of the day (scheduler time zone) the purge runs.
    hour: int = Field(default=3, ge=0, le=23)


class PrivacySettings(_Section):
    """How much personal data is kept."""

    # Store author handles as a keyed hash (key: SOCIALCRM_PSEUDONYM_KEY) and drop names and
    # profile details: for analytics-only deployments; linking and replying need real handles.
    pseudonymise_authors: bool = False


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Priority = Annotated[int, Field(ge=1, le=5)]
Sentiment = Literal["negative", "neutral", "positive"]


class BusinessHoursSettings(_Section):
    """When the team works: SLA clocks run only inside these hours."""

    timezone: str = "UTC"
    days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"], min_length=1)
    start: ClockTime = "09:00"
    end: ClockTime = "17:00"
    holidays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHoursSettings:
        if self.start >= self.end:
            raise ValueError("business hours start must be before end")
        return self


class RuleSettings(_Section):
    """One routing rule: every condition given must hold; the first rule that matches wins."""

    name: str = Field(min_length=1, max_length=255)
    intents: list[str] = []
    min_probability: Probability = 0.5
    sentiments: list[Sentiment] = []
    needs_reply_at_least: Probability | None = None
    uncertain: bool | None = None
    segments: list[Literal["A", "B", "C"]] = []
    vip: bool | None = None
    customer: bool | None = None
    sources: list[str] = []
    queries: list[str] = []
    keywords: Terms = []
    action: Literal["task", "ignore"] = "task"
    queue: str = Field(default="community", min_length=1, max_length=255)
    priority: Priority = 3
    sla_minutes: int = Field(default=0, ge=0)
    business_hours: bool = True


DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"name": "spam", "intents": ["spam"], "min_probability": 0.8, "action": "ignore"},
    {
        "name": "vip-complaint",
        "intents": ["complaint"],
        "vip": True,
        "queue": "escalations",
        "priority": 1,
        "sla_minutes": 60,
        "business_hours": False,
    },
    {
        "name": "unsure",
        "uncertain": True,
        "needs_reply_at_least": 0.3,
        "queue": "triage",
        "priority": 3,
        "sla_minutes": 480,
    },
    {
        "name": "complaint",
        "intents": ["complaint"],
        "queue": "support",
        "priority": 2,
        "sla_minutes": 240,
    },
    {"name": "question", "intents": ["question"], "queue": "support", "sla_minutes": 480},
    {
        "name": "lead",
        "intents": ["purchase_intent"],
        "queue": "sales",
        "priority": 2,
        "sla_minutes": 240,
    },
    {"name": "needs-reply", "needs_reply_at_least": 0.6, "queue": "community", "priority": 4},
)

DEFAULT_TEMPLATES: dict[str, str] = {
    "complaint": "Hi {name}, sorry about this. Could you tell us a bit more so we can fix it?",
    "question": "Hi {name}, thanks for asking! ",
    "purchase_intent": "Hi {name}, glad you are interested! ",
    "praise": "Thank you, {name}! That made our day.",
    "feature_request": "Thanks for the idea, {name}! We have passed it on to the team.",
    "default": "Hi {name}, thanks for reaching out. ",
}


class EngagementSettings(_Section):
    """The work queue: routing rules, SLAs, reply templates (docs/engagement.md)."""

    enabled: bool = True
    rules: list[RuleSettings] = Field(
        default_factory=lambda: [RuleSettings(**rule) for rule in DEFAULT_RULES]
    )
    escalation_queue: str = Field(default="escalations", min_length=1)
    default_sla_minutes: int = Field(default=480, ge=0)
    sla_warn_minutes: int = Field(default=30, ge=0)
    business_hours: BusinessHoursSettings = BusinessHoursSettings()
    vip_attribute: str = "vip"
    require_second_approval: bool = False
    templates: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    outcome_window_days: int = Field(default=14, ge=1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> EngagementSettings:
        names = [rule.name for rule in self.rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"two routing rules are named {twice[0]!r}: names must be unique")
        return self


ChannelId = Annotated[str, Field(pattern=r"^[0-9]{15,25}$")]


class DiscordSettings(_Section):
    """The Discord bot (token: SOCIALCRM_DISCORD_TOKEN); docs/engagement.md sets it up."""

    enabled: bool = False
    guild_id: ChannelId | Literal[""] = ""
    channels: dict[str, ChannelId] = {}
    default_channel: ChannelId | Literal[""] = ""
    alerts_channel: ChannelId | Literal[""] = ""
    send_roles: list[str] = Field(default=["Responder"], min_length=1)
    dispatch_interval_seconds: Seconds = 5
    # an embed holds 6000 characters in all: the text, and the fields around it
    max_text: int = Field(default=1500, ge=100, le=2500)

    @model_validator(mode="after")
    def _somewhere_to_post(self) -> DiscordSettings:
        if not self.enabled:
            return self
        if not self.guild_id:
            # a bot answers in any server that adds it: customer data must stay in yours
            raise ValueError("set discord.guild_id (your server's id): the bot works only there")
        if not (self.default_channel or self.channels):
            raise ValueError("set discord.default_channel (a channel id) or discord.channels")
        return self


class AlertsSettings(_Section):
    """Spikes per query and SLA warnings."""

    spikes: bool = True
    spike_k: float = Field(default=3.0, gt=0)
    spike_weeks: int = Field(default=4, ge=1, le=26)
    spike_min_volume: int = Field(default=10, ge=1)
    queue: str = Field(default="alerts", min_length=1)
    interval_minutes: int = Field(default=15, ge=1)


class ReportsSettings(_Section):
    """The scheduled digest posted to chat (headline numbers and charts)."""

    digest: Literal["weekly", "daily", "off"] = "weekly"
    digest_day: Weekday = "mon"
    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_queue: str = Field(default="alerts", min_length=1)


class WebSettings(_Section):
    """The web dashboard and REST API (docs/reports.md)."""

    # served inside `socialcrm run` too (`socialcrm web` serves it alone)
    in_run: bool = True
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    # cookies marked Secure (HTTPS only): "auto" when the request came over HTTPS (directly or
    # through a proxy saying X-Forwarded-Proto: https), "always", or "never"
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # failed log-ins allowed per user name and per client address within login_window_minutes;
    # past them, log-in answers 429 without checking the password (0: no limit)
    login_failures_per_name: int = Field(default=5, ge=0)
    login_failures_per_address: int = Field(default=20, ge=0)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # analysts see authors pseudonymised (a keyed hash of the handle, no names or profiles)
    pseudonymise_for_analysts: bool = True
    # the sources a mention pushed to POST /api/ingest may name (a push naming none gets the
    # first); others are refused with 422
    ingest_sources: list[SourceName] = Field(default=["webhook"], min_length=1)
    # whether ingest_sources may name a collector's own source (e.g. "reddit"): a push could then
    # take the id of a mention that collector has yet to fetch
    ingest_collector_sources: bool = False

    @model_validator(mode="after")
    def _pushes_leave_collector_sources_alone(self) -> WebSettings:
        collectors = {*SourcesSettings.model_fields, *plugin_names()}
        taken = [name for name in self.ingest_sources if name in collectors]
        if taken and not self.ingest_collector_sources:
            raise ValueError(
                f"ingest_sources names the collector source {taken[0]!r}: pushes could take its "
                "mentions' ids; set ingest_collector_sources = true if that is intended"
            )
        return self


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
    pseudonym_key: SecretStr | None = None
    # signs the dashboard's session cookies (16+ characters)
    web_secret: SecretStr | None = None
    # checks the signature of mentions pushed to POST /api/ingest
    ingest_secret: SecretStr | None = None

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
    crm: CrmSettings = CrmSettings()
    retention: RetentionSettings = RetentionSettings()
    privacy: PrivacySettings = PrivacySettings()
    engagement: EngagementSettings = EngagementSettings()
    discord: DiscordSettings = DiscordSettings()
    alerts: AlertsSettings = AlertsSettings()
    web: WebSettings = WebSettings()
    reports: ReportsSettings = ReportsSettings()
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _secrets_for_enabled_features(self) -> Settings:
        secrets = self.secrets
        needed = {
            "SOCIALCRM_WEBHOOK_SECRET": self.crm.webhook.enabled and not secrets.webhook_secret,
            "SOCIALCRM_HUBSPOT_TOKEN": self.crm.hubspot.enabled and not secrets.hubspot_token,
            "SOCIALCRM_PSEUDONYM_KEY": self.privacy.pseudonymise_authors
            and not secrets.pseudonym_key,
            "SOCIALCRM_DISCORD_TOKEN": self.discord.enabled and not secrets.discord_token,
        }
        missing = [name for name, is_missing in needed.items() if is_missing]
        if missing:
            raise ValueError(f"set {missing[0]} (in the environment or secrets.env)")
        ingest = secrets.ingest_secret
        if ingest is not None and len(ingest) < MIN_PSEUDONYM_KEY:
            raise ValueError(
                f"SOCIALCRM_INGEST_SECRET is too short: use {MIN_PSEUDONYM_KEY}+ random characters"
            )
        key = secrets.pseudonym_key
        if self.privacy.pseudonymise_authors and key and len(key) < MIN_PSEUDONYM_KEY:
            raise ValueError(
                f"SOCIALCRM_PSEUDONYM_KEY is too short: use {MIN_PSEUDONYM_KEY}+ random characters"
            )
        return self

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
    if not key or isinstance(first["input"], dict):
        # a rule across keys (a table's validator): its message says what to fix
        return f"{source}: {f'[{key}] ' if key else ''}{expected}"
    return f"{source}: {key} = {value} is invalid: {expected}"
