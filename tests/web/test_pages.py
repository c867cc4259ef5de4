"""Dashboard pages: overview, mentions (filters, search, CSV), one mention, queue, customers."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from reports.cells import safe_cell
from socialcrm import models
from socialcrm.db import Database
from socialcrm.pseudonym import keyed_hash
from socialcrm.settings import Settings
from socialcrm.web import auth, pages_mentions
from tests.engagement.builders import FakeResponder, tasks
from tests.web.conftest import (
    PASSWORD,
    PRIVATE_HANDLE,
    PRIVATE_NAME,
    RAW_MARKUP,
    XSS_CUSTOMER,
    XSS_HANDLE,
    XSS_TEXT,
    MakeSettings,
    Seeded,
    login,
    post,
)

RoleClient = Callable[[str], TestClient]
WINDOW = "since=2026-11-01&until=2026-12-01"


def _task(db: Database, task_id: int) -> models.Task:
    return next(t for t in tasks(db) if t.id == task_id)


def _actions(db: Database) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(models.AuditEntry.action)))


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _digest(page: str) -> str:
    match = re.search(r'name="seen" value="([0-9a-f]+)"', page)
    assert match is not None, "the page offers no Send or Approve button"
    return match.group(1)


# --- overview


def test_the_overview_shows_headline_numbers_and_chart_figures(
    as_role: RoleClient, seeded: Seeded
) -> None:
    page = as_role("analyst").get(f"/?{WINDOW}")
    assert page.status_code == 200
    assert re.search(r'id="volume">4<', page.text)
    figures = re.findall(
        r'<script type="application/json" data-chart="([\w-]+)">(.*?)</script>', page.text, re.S
    )
    assert len(figures) >= 5
    for chart_id, body in figures:
        assert f'id="{chart_id}"' in page.text
        assert "data" in json.loads(body)
    assert '<script src="/static/plotly.min.js"></script>' in page.text


def test_a_bad_window_says_what_to_write(as_role: RoleClient) -> None:
    page = as_role("agent").get("/?since=yesterday")
    assert page.status_code == 400
    assert "cannot read the time" in page.text


def test_plotly_is_served_from_the_installed_package(as_role: RoleClient) -> None:
    script = as_role("agent").get("/static/plotly.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) > 1_000_000
    assert "plotly" in script.text[:2000].lower()


# --- mentions


def test_the_mention_list_filters_by_labels_source_and_text(
    as_role: RoleClient, seeded: Seeded
) -> None:
    agent = as_role("agent")
    everything = agent.get("/mentions").text
    assert everything.count('class="mention-row"') == 4
    negative = agent.get("/mentions?sentiment=negative").text
    assert negative.count('class="mention-row"') == 2
    assert "I love my new inkwell pen" not in negative
    found = agent.get("/mentions?q=refills").text
    assert found.count('class="mention-row"') == 1
    assert "where can I buy refills?" in found
    assert agent.get("/mentions?source=reddit").text.count('class="mention-row"') == 0
    by_customer = agent.get(f"/mentions?customer={seeded.customer}").text
    assert by_customer.count('class="mention-row"') == 3


def test_a_bad_filter_is_one_line_saying_what_to_fix(as_role: RoleClient, seeded: Seeded) -> None:
    page = as_role("agent").get("/mentions?sentiment=angry")
    assert page.status_code == 400
    assert "unknown sentiment" in page.text


def test_the_mention_list_pages_by_keyset(
    as_role: RoleClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_mentions, "PAGE", 3)
    agent = as_role("agent")
    first = agent.get("/mentions?sentiment=&q=")
    assert first.text.count('class="mention-row"') == 3
    link = re.search(r'class="next" href="([^"]+)"', first.text)
    assert link is not None
    second = agent.get(link.group(1).replace("&amp;", "&"))
    assert second.text.count('class="mention-row"') == 1
    assert 'class="next"' not in second.text
    ids = re.findall(r'href="/mentions/(\d+)"', first.text + second.text)
    assert sorted(set(ids), key=int, reverse=True) == list(dict.fromkeys(ids))


def test_the_csv_export_has_the_filtered_list_with_formulas_defused(
    as_role: RoleClient, seeded: Seeded
) -> None:
    answer = as_role("agent").get("/mentions.csv?sentiment=negative")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = _csv(answer.text)
    assert len(rows) == 2
    hostile = next(r for r in rows if r["id"] == str(seeded.hostile))
    assert hostile["text"] == "'" + XSS_TEXT
    assert hostile["author"] == "'" + XSS_HANDLE
    assert hostile["sentiment"] == "negative"
    assert hostile["intents"] == "complaint"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
        (3, 3),
    ],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(value: object, expected: object) -> None:
    assert safe_cell(value) == expected


def test_one_mention_shows_its_thread_labels_and_task(as_role: RoleClient, seeded: Seeded) -> None:
    page = as_role("agent").get(f"/mentions/{seeded.hostile}").text
    assert "still leaking, any news?" in page  # the thread
    assert "complaint" in page
    assert f"Task #{seeded.task}" in page
    assert f'action="/queue/{seeded.task}/claim"' in page
    assert "Routing: task" in page
    assert as_role("agent").get("/mentions/999999").status_code == 404


# --- queue


def test_an_agent_claims_drafts_and_sends_a_reply_as_web_user(
    as_role: RoleClient, seeded: Seeded, db: Database, responder: FakeResponder
) -> None:
    agent = as_role("agent")
    listed = agent.get("/queue").text
    assert f'href="/queue/{seeded.task}"' in listed
    task_page = f"/queue/{seeded.task}"
    assert post(agent, f"{task_page}/claim").headers["location"] == task_page
    assert f"Task #{seeded.task} is yours." in agent.get(task_page).text
    form = {"text": "Sorry about the leak, a new pen is on its way."}
    post(agent, f"{task_page}/draft", form)
    page = agent.get(task_page).text
    assert "Send reply" in page
    post(agent, f"{task_page}/send", {"seen": _digest(page)})
    assert "is answered" in agent.get(task_page).text
    assert [text for _, text, _ in responder.posted] == [form["text"]]
    task = _task(db, seeded.task)
    assert (task.state, task.assignee) == ("sent", "web:agent")
    with db.transaction() as session:
        actions = session.execute(
            select(models.AuditEntry.actor, models.AuditEntry.action)
            .where(models.AuditEntry.subject_type == "task")
            .order_by(models.AuditEntry.id)
        ).all()
    assert [tuple(a) for a in actions][-4:] == [
        ("web:agent", "task.claim"),
        ("web:agent", "task.draft"),
        ("web:agent", "task.approve"),
        ("web:agent", "task.send"),
    ]


def test_a_draft_changed_since_the_page_was_shown_is_not_sent(
    as_role: RoleClient, seeded: Seeded, responder: FakeResponder
) -> None:
    agent, task_page = as_role("agent"), f"/queue/{seeded.task}"
    post(agent, f"{task_page}/draft", {"text": "first words"})
    seen = _digest(agent.get(task_page).text)
    post(agent, f"{task_page}/draft", {"text": "second words"})
    post(agent, f"{task_page}/send", {"seen": seen})
    assert "changed since you saw it" in agent.get(task_page).text
    assert responder.posted == []


def test_second_approval_holds_as_in_discord(
    make_app: Callable[[Settings], FastAPI],
    make_settings: MakeSettings,
    users: dict[str, str],
    seeded: Seeded,
    responder: FakeResponder,
) -> None:
    app = make_app(make_settings(engagement={"require_second_approval": True}))
    agent = TestClient(app, base_url="http://127.0.0.1")
    admin = TestClient(app, base_url="http://127.0.0.1")
    login(agent, "agent", PASSWORD)
    login(admin, "admin", PASSWORD)
    task_page = f"/queue/{seeded.task}"
    post(agent, f"{task_page}/draft", {"text": "we are on it"})
    page = agent.get(task_page).text
    post(agent, f"{task_page}/approve", {"seen": _digest(page)})
    assert "a second person must approve your draft" in agent.get(task_page).text
    post(agent, f"{task_page}/send", {"seen": _digest(page)})
    assert "needs a second person&#39;s approval" in agent.get(task_page).text
    post(admin, f"{task_page}/approve", {"seen": _digest(admin.get(task_page).text)})
    post(agent, f"{task_page}/send", {"seen": _digest(agent.get(task_page).text)})
    assert [text for _, text, _ in responder.posted] == ["we are on it"]


def test_notes_dismissal_and_someone_elses_task(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    agent, admin, task_page = as_role("agent"), as_role("admin"), f"/queue/{seeded.task}"
    post(agent, f"{task_page}/claim")
    post(admin, f"{task_page}/dismiss", {"reason": "spam"})
    assert "claimed by web:agent" in admin.get(task_page).text
    assert "Take over from web:agent" in admin.get(task_page).text
    post(admin, f"{task_page}/note", {"text": "called them <b>twice</b>"})
    assert "called them &lt;b&gt;twice&lt;/b&gt;" in agent.get(task_page).text
    post(admin, f"{task_page}/claim", {"take_over": "1"})
    post(admin, f"{task_page}/dismiss", {"reason": "solved by phone"})
    assert _task(db, seeded.task).state == "dismissed"
    assert post(agent, f"{task_page}/explode").status_code == 404


def test_analysts_cannot_act_on_the_queue(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    analyst = as_role("analyst")
    answer = post(analyst, f"/queue/{seeded.task}/claim", page="/mentions")
    assert answer.status_code == 403
    assert _task(db, seeded.task).assignee is None
    assert 'action="/queue/' not in analyst.get(f"/mentions/{seeded.hostile}").text


def test_a_forged_queue_form_changes_nothing(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    agent = as_role("agent")
    forged = agent.post(
        f"/queue/{seeded.task}/claim", data={"csrf_token": "forged"}, follow_redirects=False
    )
    missing = agent.post(f"/queue/{seeded.task}/claim", follow_redirects=False)
    assert forged.status_code == missing.status_code == 403
    assert _task(db, seeded.task).assignee is None


# --- customers


def test_a_customer_profile_shows_accounts_and_history(as_role: RoleClient, seeded: Seeded) -> None:
    agent = as_role("agent")
    assert f'href="/customers/{seeded.customer}"' in agent.get("/customers?q=leaky").text
    assert (
        f'href="/customers/{seeded.customer}"' in agent.get(f"/customers?q={PRIVATE_HANDLE}").text
    )
    assert "No customers match" in agent.get("/customers?q=nobody%25").text
    page = agent.get(f"/customers/{seeded.customer}").text
    assert PRIVATE_HANDLE in page
    assert "leaky@example.com" in page
    assert "where can I buy refills?" in page or "mention" in page
    assert "Forget this person" not in page  # agents do not see data-protection actions
    assert agent.get("/customers/999999").status_code == 404


def test_admins_export_and_forget_a_customer_and_both_are_audited(
    as_role: RoleClient, seeded: Seeded, db: Database
) -> None:
    admin, agent = as_role("admin"), as_role("agent")
    profile = f"/customers/{seeded.customer}"
    assert post(agent, f"{profile}/export").status_code == 403
    exported = post(admin, f"{profile}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    assert [c["id"] for c in data["tables"]["customers"]] == [seeded.customer]
    assert "person.export" in _actions(db)  # (forgetting the person erases this entry too)
    post(admin, f"{profile}/forget", {"confirm": "no"})
    assert "Nothing was erased" in admin.get(profile).text
    done = post(admin, f"{profile}/forget", {"confirm": "forget"})
    assert done.headers["location"] == "/customers"
    assert "is forgotten" in admin.get("/customers").text
    assert admin.get(profile).status_code == 404
    assert "person.forgotten" in _actions(db)


# --- security: stored XSS, pseudonymised analysts, headers


def _pages(seeded: Seeded) -> list[str]:
    return [
        f"/?{WINDOW}",
        "/mentions",
        f"/mentions/{seeded.hostile}",
        f"/mentions/{seeded.reply_in_thread}",
        "/queue",
        f"/queue/{seeded.task}",
        "/customers",
        f"/customers/{seeded.customer}",
    ]


def test_hostile_text_is_escaped_on_every_page(as_role: RoleClient, seeded: Seeded) -> None:
    admin = as_role("admin")
    for path in _pages(seeded):
        page = admin.get(path)
        assert page.status_code == 200, path
        for markup in RAW_MARKUP:
            assert markup not in page.text, (path, markup)
        assert 'href="javascript:' not in page.text, path
    assert "&lt;script&gt;alert" in admin.get(f"/mentions/{seeded.hostile}").text
    assert "&lt;iframe" in admin.get(f"/customers/{seeded.customer}").text


def test_chart_data_cannot_close_its_script_element(as_role: RoleClient, seeded: Seeded) -> None:
    page = as_role("admin").get(f"/?{WINDOW}").text
    bodies = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    assert bodies
    for body in bodies:
        assert "<" not in body
        assert ">" not in body
        json.loads(body)


def test_json_script_escapes_markup() -> None:
    from socialcrm.web.pages_common import json_script

    text = str(json_script({"a": "</script><script>alert(1)</script>&"}))
    assert "<" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>&"}


def test_analysts_see_authors_only_as_pseudonyms(
    as_role: RoleClient, seeded: Seeded, settings: Settings
) -> None:
    analyst = as_role("analyst")
    pseudonym = keyed_hash(PRIVATE_HANDLE, auth.pseudonym_key(settings))
    pages = [f"/?{WINDOW}", "/mentions", f"/mentions/{seeded.private}", "/mentions.csv"]
    pages.append(f"/mentions?customer={seeded.customer}")  # ignored for analysts
    for path in pages:
        text = analyst.get(path).text
        for private in (PRIVATE_HANDLE, PRIVATE_NAME, "leaky@example.com", XSS_CUSTOMER):
            assert private not in text, (path, private)
        assert "/customers/" not in text, path
    assert pseudonym in analyst.get("/mentions").text
    rows = _csv(analyst.get("/mentions.csv").text)
    assert {r["author_name"] for r in rows} == {""}
    assert {r["url"] for r in rows} == {""}
    assert {r["customer_id"] for r in rows} == {""}
    assert pseudonym in {r["author"] for r in rows}
    everyone = analyst.get(f"/mentions?customer={seeded.customer}").text
    assert everyone.count('class="mention-row"') == 4


def test_analysts_see_authors_when_pseudonymisation_is_off(
    make_app: Callable[[Settings], FastAPI],
    make_settings: MakeSettings,
    users: dict[str, str],
    seeded: Seeded,
) -> None:
    app = make_app(make_settings(web={"pseudonymise_for_analysts": False}))
    analyst = TestClient(app, base_url="http://127.0.0.1")
    login(analyst, "analyst", PASSWORD)
    assert PRIVATE_HANDLE in analyst.get("/mentions").text
    assert analyst.get("/customers").status_code == 403


def test_pages_forbid_foreign_scripts_and_framing(as_role: RoleClient) -> None:
    headers = as_role("agent").get("/queue").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_static_files_may_be_cached_but_pages_not(as_role: RoleClient) -> None:
    agent = as_role("agent")
    assert agent.get("/queue").headers["cache-control"] == "no-store"
    css = agent.get("/static/app.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
