"""What chat shows: hostile text neutralised, and the content of task cards, alerts and incidents.

Pure: plain values in, Discord-shaped content out. Every piece of text that came from the
internet goes through `neutralise`, so it can neither ping anyone nor render as a masked link.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from engagement.states import Action, State, can, is_open
from socialcrm import models

ZWSP: Final = "\u200b"
ELLIPSIS: Final = "…"
# Discord's own limits for embed parts
FIELD_LIMIT: Final = 1024
TITLE_LIMIT: Final = 256
SHORT: Final = 100  # names, handles, queries
DIGEST: Final = 12  # hex characters of a draft digest on a button
THREAD_NAME: Final = 100  # Discord's limit for a thread's name

# a URL stops at whitespace, angle and square brackets; trailing punctuation is prose, not URL
_URL = re.compile(r"https?://[^\s<>\[\]\"]+", re.IGNORECASE)
_URL_TRAILING = ".,:;!?'\")"
# characters that are markdown anywhere on a line (parentheses and brackets: masked links)
_INLINE = re.compile(r"([\\*_~|`\[\]()<>])")
_LINE_MARK = re.compile(r"^(\s*)([#+-])")  # headings, subtext (-#), lists
_LINE_NUMBER = re.compile(r"^(\s*)(\d+)\.")  # numbered lists
# C0 controls (not tab/newline) and the bidi overrides that make text read backwards
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_URL_ESCAPES: Final = {
    "(": "%28",
    ")": "%29",
    "\\": "%5C",
    "`": "%60",
    # markdown characters: equivalent percent-encoded (RFC 3986), and inert however Discord parses
    "*": "%2A",
    "|": "%7C",
    "~": "%7E",
}
_URL_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_DISCORD_USER = re.compile(r"^discord:(\d{15,25})$")

Style = Literal["primary", "secondary", "success", "danger"]
_COLORS: Final = {1: 0xE74C3C, 2: 0xE67E22, 3: 0xF1C40F, 4: 0x3498DB, 5: 0x95A5A6}
_CLOSED_COLORS: Final = {State.SENT.value: 0x2ECC71, State.DISMISSED.value: 0x7F8C8D}
_SOURCES: Final = {"hackernews": "Hacker News", "rss": "RSS", "bluesky": "Bluesky"}


def neutralise(text: str, limit: int) -> str:
    """`text` with markdown escaped and mentions defused, cut to `limit` characters with "…"."""
    return _neutralise(text, limit)[0]


def _neutralise(text: str, limit: int) -> tuple[str, bool]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = "\n".join(_escape_line(line) for line in text.split("\n"))
    if len(escaped) <= limit:
        return escaped, False
    cut = escaped[: limit - 1]
    if (len(cut) - len(cut.rstrip("\\"))) % 2:
        cut = cut[:-1]  # a lone trailing backslash would escape the ellipsis, not a character
    return cut + ELLIPSIS, True


def _escape_line(line: str) -> str:
    parts, position = [], 0
    for match in _URL.finditer(line):
        url = _trim_url(match.group())
        parts.append(_escape_plain(line[position : match.start()]))
        parts.append(_escape_url(url))
        position = match.start() + len(url)
    parts.append(_escape_plain(line[position:]))
    joined = "".join(parts)
    joined = _LINE_MARK.sub(r"\1\\\2", joined)
    return _LINE_NUMBER.sub(r"\1\2\\.", joined)


def _trim_url(url: str) -> str:
    while url and url[-1] in _URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # a balanced parenthesis belongs to the URL (Wikipedia titles)
        url = url[:-1]
    return url


def _escape_plain(text: str) -> str:
    text = _INLINE.sub(r"\\\1", text)
    # a zero-width space after "@" and "<" breaks @everyone, <@id>, <@&role>, <#channel>
    return text.replace("@", "@" + ZWSP).replace("<", "<" + ZWSP)


def _escape_url(url: str) -> str:
    # inside a URL Discord renders no markdown, and escaping would break the link: percent-encode
    for char, code in _URL_ESCAPES.items():
        url = url.replace(char, code)
    return _URL_EVERYONE.sub("%40", url)


def safe_url(url: str | None) -> str | None:
    """`url` when it is a plain http(s) URL that is safe inside a markdown link, else None."""
    if not url or not re.fullmatch(r"https?://[^\s<>\"`\\]+", url, re.IGNORECASE):
        return None
    return url.replace("(", "%28").replace(")", "%29").replace("[", "%5B").replace("]", "%5D")


def timestamp(at: datetime, style: str = "R") -> str:
    """A Discord timestamp, shown in each reader's own time zone (`R`: "in 2 hours")."""
    return f"<t:{int(at.timestamp())}:{style}>"


@dataclass(frozen=True, slots=True)
class Button:
    """A message button; `custom_id` routes the click (`task:12:claim`)."""

    custom_id: str
    label: str
    style: Style = "secondary"
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ChatContent:
    """One chat message: text, an embed in Discord's JSON shape, and buttons."""

    content: str | None = None
    embed: dict[str, Any] | None = None
    buttons: tuple[Button, ...] = ()
    # open a thread on the message when it is first posted (an incident's discussion)
    thread_name: str | None = None
    # files attached when the message is first posted (a digest's charts): (name, bytes)
    files: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerSummary:
    """The customer behind an author, as a card shows them."""

    id: int
    name: str | None = None
    segment: str | None = None
    vip: bool = False
    mentions_total: int = 0
    open_tasks: int = 0
    last_contact: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskView:
    """Everything a task card shows, as plain values (`engagement.views.load_task_view`)."""

    task_id: int
    state: str
    priority: int
    queue: str
    source: str
    text: str
    author_handle: str
    reason: str | None = None
    assignee: str | None = None
    mention_url: str | None = None
    title: str | None = None
    author_name: str | None = None
    followers: int | None = None
    customer: CustomerSummary | None = None
    sentiment: str | None = None
    sentiment_confidence: float | None = None
    intents: Mapping[str, float] = field(default_factory=dict)
    needs_reply: float | None = None
    uncertain: bool = False
    lang: str | None = None
    matched_query: str | None = None
    sla_due_at: datetime | None = None
    sla_warned: bool = False
    sla_breached: bool = False
    reply_url: str | None = None
    draft: str | None = None
    approved_by: str | None = None
    mention_count: int = 1
    # a second person must approve a draft: the card offers Approve on a drafted task
    needs_approval: bool = False


def source_name(source: str) -> str:
    """How a source is called on a card: `reddit` -> `Reddit`, `hackernews` -> `Hacker News`."""
    return _SOURCES.get(source, source[:1].upper() + source[1:])


def who(name: str | None) -> str:
    """A staff member: a Discord user as a mention (embeds never ping), anyone else escaped."""
    if name is None:
        return "nobody"
    match = _DISCORD_USER.match(name)
    return f"<@{match.group(1)}>" if match else neutralise(name, SHORT)


def top_intents(intents: Mapping[str, float], at_least: float = 0.3) -> list[tuple[str, float]]:
    """Intents with at least `at_least` probability, most likely first."""
    kept = [(name, p) for name, p in intents.items() if p >= at_least]
    return sorted(kept, key=lambda item: (-item[1], item[0]))


def _field(name: str, value: str, inline: bool = True) -> dict[str, Any]:
    return {"name": name, "value": (value or "—")[:FIELD_LIMIT], "inline": inline}


def _title(view: TaskView) -> str:
    intents = top_intents(view.intents)
    topic = intents[0][0].replace("_", " ") if intents else (view.sentiment or view.queue)
    return f"[P{view.priority}] {source_name(view.source)} · {topic}"[:TITLE_LIMIT]


def _description(view: TaskView, limit: int) -> str:
    """The post (title in bold) cut to `limit`, ending in a link to the original when cut."""
    heading = f"**{neutralise(view.title, 200)}**\n" if view.title else ""
    budget = max(1, limit - len(heading))
    body, cut = _neutralise(view.text, budget)
    url = safe_url(view.mention_url)
    more = f"\n[Read the whole post]({url})" if url else ""
    if cut and more and len(more) < budget // 2:
        body = _neutralise(view.text, budget - len(more))[0] + more
    return heading + body


def _author(view: TaskView) -> str:
    handle = neutralise(view.author_handle, SHORT)
    name = (
        f"{neutralise(view.author_name, SHORT)} (@{ZWSP}{handle})" if view.author_name else handle
    )
    followers = f" · {view.followers:,} followers" if view.followers is not None else ""
    return name + followers


def _customer(customer: CustomerSummary | None) -> str:
    if customer is None:
        return "not linked"
    name = neutralise(customer.name, SHORT) if customer.name else f"customer {customer.id}"
    tags = [f"segment {customer.segment}"] if customer.segment else []
    tags += ["VIP"] if customer.vip else []
    history = f"{customer.mentions_total} mentions"
    if customer.last_contact is not None:
        history += f", last {timestamp(customer.last_contact)}"
    head = " · ".join([name, *tags])
    return f"{head}\n{history} · {customer.open_tasks} open tasks"


def _sentiment(view: TaskView) -> str:
    if view.sentiment is None:
        return f"not labelled ({neutralise(view.lang, 16) if view.lang else 'unknown language'})"
    confidence = (
        f" {view.sentiment_confidence:.0%}" if view.sentiment_confidence is not None else ""
    )
    return view.sentiment + confidence + (" · uncertain" if view.uncertain else "")


def _intents(view: TaskView) -> str:
    found = top_intents(view.intents)
    return ", ".join(f"{name.replace('_', ' ')} {p:.0%}" for name, p in found) or "none"


def _sla(view: TaskView) -> str | None:
    if view.sla_due_at is None or not is_open(view.state):
        return None
    mark = " · ⚠ breached" if view.sla_breached else " · ⚠ due soon" if view.sla_warned else ""
    return timestamp(view.sla_due_at) + mark


def _owner(view: TaskView) -> str:
    owner = f"{view.state} · {who(view.assignee)}" if view.assignee else f"{view.state} · unclaimed"
    return owner + (f" · approved by {who(view.approved_by)}" if view.approved_by else "")


def _fields(view: TaskView) -> list[dict[str, Any]]:
    fields = [
        _field("Author", _author(view)),
        _field("Customer", _customer(view.customer)),
        _field("Sentiment", _sentiment(view)),
        _field("Intents", _intents(view)),
    ]
    if view.matched_query:
        fields.append(_field("Query", neutralise(view.matched_query, SHORT)))
    if (sla := _sla(view)) is not None:
        fields.append(_field("SLA due", sla))
    fields.append(_field("State / owner", _owner(view)))
    if view.reason:
        fields.append(_field("Why", neutralise(view.reason, FIELD_LIMIT // 2), inline=False))
    if view.draft and view.reply_url is None:
        fields.append(_field("Draft", neutralise(view.draft, FIELD_LIMIT), inline=False))
    if (reply := safe_url(view.reply_url)) is not None:
        fields.append(_field("Reply", f"[See the reply]({reply})", inline=False))
    return fields


def draft_digest(text: str, target: str | None) -> str:
    """A short digest of a draft and the post it answers, as a button's message showed them.

    Approve and Send buttons carry it: the service refuses them once either has changed.
    """
    return hashlib.sha256(f"{target or ''}\n{text}".encode()).hexdigest()[:DIGEST]


def task_buttons(
    task_id: int,
    state: str,
    draft: str | None = None,
    needs_approval: bool = False,
    target: str | None = None,
) -> tuple[Button, ...]:
    """Claim, Reply, Note, Dismiss, Escalate, Correct label; Approve or Send for the draft shown.

    Approve (a drafted task, second approval on) and Send (an approved one) carry the digest of
    the draft the card shows, so nobody approves or sends a text they did not see.
    """
    open_ = is_open(state)
    spec: list[tuple[str, str, Style, bool]] = [
        # claim stays enabled on a claimed task: the bot offers a take-over instead
        ("claim", "Claim", "primary", open_),
        ("reply", "Reply", "success", open_),
        ("note", "Note", "secondary", True),
        ("dismiss", "Dismiss", "danger", can(state, Action.DISMISS)),
        ("escalate", "Escalate", "secondary", can(state, Action.ESCALATE)),
        ("correct", "Correct label", "secondary", True),
    ]
    if draft and needs_approval and state == State.DRAFTED:
        spec.append((f"approve:{draft_digest(draft, target)}", "Approve", "primary", True))
    if draft and state == State.APPROVED:
        spec.append((f"send:{draft_digest(draft, target)}", "Send", "success", True))
    return tuple(
        Button(f"task:{task_id}:{action}", label, style, disabled=not enabled)
        for action, label, style, enabled in spec
    )


def task_card(view: TaskView, limit: int) -> ChatContent:
    """The card of one task: the post (cut to `limit`), who wrote it, labels, SLA, buttons."""
    url = safe_url(view.mention_url)
    embed: dict[str, Any] = {
        "title": _title(view),
        "description": _description(view, limit),
        "color": _CLOSED_COLORS.get(view.state, _COLORS.get(view.priority, _COLORS[3])),
        "fields": _fields(view),
        "footer": {"text": _footer(view)},
    }
    if url is not None:
        embed["url"] = url
    buttons = task_buttons(
        view.task_id, view.state, view.draft, view.needs_approval, view.mention_url
    )
    return ChatContent(embed=embed, buttons=buttons)


def _footer(view: TaskView) -> str:
    conversation = f" · {view.mention_count} mentions in this conversation"
    return f"task {view.task_id} · queue {view.queue}" + (
        conversation if view.mention_count > 1 else ""
    )


def alert_content(text: str) -> ChatContent:
    """A plain alert message; its text may quote the internet, so it is neutralised."""
    return ChatContent(content=neutralise(text, 2000))


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentView:
    """An incident's values as its message shows them."""

    id: int
    query: str
    window_start: datetime
    kind: str
    volume: int
    negatives: int
    baseline: Mapping[str, Any] = field(default_factory=dict)
    drivers: Mapping[str, Any] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @classmethod
    def from_row(cls, row: models.Incident) -> IncidentView:
        """The view of a stored incident."""
        return cls(
            id=row.id,
            query=row.query,
            window_start=row.window_start,
            kind=row.kind,
            volume=row.volume,
            negatives=row.negatives,
            baseline=dict(row.baseline),
            drivers=dict(row.drivers),
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
        )


def incident_card(incident: IncidentView) -> ChatContent:
    """An incident: the spike against its baseline, its drivers, and an Acknowledge button."""
    embed: dict[str, Any] = {
        "title": f"Spike · {incident.kind}",
        "description": _incident_summary(incident),
        "color": _COLORS[1] if incident.acknowledged_at is None else _COLORS[5],
        "fields": [
            _field("Top terms", _terms(incident.drivers.get("terms") or []), inline=False),
            _field("Top posts", _posts(incident.drivers.get("posts") or []), inline=False),
            _field("Sentiment", _split(incident.drivers.get("sentiment") or {})),
            _field("Acknowledged", _acknowledged(incident)),
        ],
        "footer": {"text": f"incident {incident.id}"},
        "timestamp": incident.window_start.isoformat(),
    }
    name = f"Incident {incident.id}: {incident.query}"[:THREAD_NAME]
    return ChatContent(embed=embed, buttons=(_ack_button(incident),), thread_name=name)


def _incident_summary(incident: IncidentView) -> str:
    base = incident.baseline
    start = incident.window_start
    query = neutralise(incident.query, SHORT)
    end = start + timedelta(hours=1)
    text = f"**{query}**, {timestamp(start, 't')} to {timestamp(end, 't')}: "
    text += f"**{incident.volume}** mentions"
    if "mean" in base and "sigma" in base:
        text += f" (usually {base['mean']:.1f} ± {base['sigma']:.1f})"
    share = incident.negatives / incident.volume if incident.volume else 0.0
    text += f", {share:.0%} negative"
    if base.get("share_mean") is not None:
        text += f" (usually {base['share_mean']:.0%})"
    return text + "."


def _terms(terms: list[Any]) -> str:
    return ", ".join(f"{neutralise(str(term), 40)} ({count})" for term, count in terms) or "none"


def _posts(posts: list[Any]) -> str:
    lines: list[str] = []
    for post in posts:
        text = neutralise(" ".join(str(post.get("text") or "").split()), 140)
        url = safe_url(post.get("url"))
        line = f"• {text}" + (f" ([open]({url}))" if url else "")
        line += f" · {post.get('sentiment') or 'unlabelled'}, reach {post.get('reach') or 0}"
        if sum(len(kept) + 1 for kept in lines) + len(line) > FIELD_LIMIT:
            break  # a whole post or none: a cut link would not work
        lines.append(line)
    return "\n".join(lines) or "none"


def _split(sentiment: Mapping[str, Any]) -> str:
    labels = ("negative", "neutral", "positive")
    return " · ".join(f"{label} {int(sentiment.get(label) or 0)}" for label in labels)


def _acknowledged(incident: IncidentView) -> str:
    if incident.acknowledged_at is None:
        return "not yet"
    return f"by {who(incident.acknowledged_by)} {timestamp(incident.acknowledged_at)}"


def _ack_button(incident: IncidentView) -> Button:
    custom_id = f"incident:{incident.id}:ack"
    if incident.acknowledged_at is None:
        return Button(custom_id, "Acknowledge", "danger")
    name = incident.acknowledged_by or ""
    # a user id means nothing in a label (mentions do not render there); the field names them
    label = "Acknowledged" if _DISCORD_USER.match(name) else f"Acknowledged by {name}"
    return Button(custom_id, label[:80], "secondary", disabled=True)
