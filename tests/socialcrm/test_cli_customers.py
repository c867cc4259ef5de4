"""`socialcrm customers import|link|unlink|merge|split|suggestions|accept|reject`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from tests.crm_sync.helpers import post, save


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings("")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args])

    return invoke


@pytest.fixture
def database(database_url: str):  # type: ignore[no-untyped-def]
    """The test database, migrated."""
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


def test_import_links_known_authors_and_reports_problems(
    cli, database: Database, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    save(database, post(1, "ada_l"), post(2, "bob", bio="mail me at bob@example.org"))
    export = tmp_path / "crm.csv"
    export.write_text(
        "crm_id,name,email,reddit,revenue\n"
        "C-1,Ada,ada@example.org,ada_l,100\n"
        "C-2,Bob,bob@example.org,,50\n"
        "C-3,Eve,eve(at)example.org,,1\n",
        encoding="utf-8",
    )
    result = cli("customers", "import", str(export))
    assert result.exit_code == 1, result.output
    assert "customers: 2 new, 0 updated; 5 identities added; 1 authors linked" in result.stdout
    assert "line 4: 'eve(at)example.org' is not an email address" in result.stderr
    listed = cli("customers", "suggestions")
    assert listed.exit_code == 0
    assert "reddit:bob" in listed.stdout
    assert "email:bob@example.org in profile" in listed.stdout


def test_link_unlink_merge_split_from_the_command_line(cli, database: Database) -> None:  # type: ignore[no-untyped-def]
    save(database, post(1, "ada"))
    with database.transaction() as session:
        session.add_all(
            [
                models.Customer(display_name="A", attributes={}),
                models.Customer(display_name="B", attributes={}),
            ]
        )
    linked = cli("customers", "link", "reddit:ada", "1")
    assert linked.exit_code == 0, linked.output
    assert "linked to customer 1" in linked.stdout
    merged = cli("customers", "merge", "2", "1")
    assert merged.exit_code == 0, merged.output
    merge_id = re.search(r"merge (\d+);", merged.stdout)
    assert merge_id is not None
    with database.transaction() as session:
        assert session.scalar(select(models.Author.customer_id)) == 2
    split = cli("customers", "split", merge_id.group(1))
    assert split.exit_code == 0, split.output
    assert "customer 1 restored" in split.stdout
    unlinked = cli("customers", "unlink", "ada")
    assert "unlinked from customer 1" in unlinked.stdout
    with database.transaction() as session:
        assert session.scalar(select(models.Author.customer_id)) is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["customers", "link", "nobody", "1"], "no author 'nobody'"),
        (["customers", "merge", "1", "1"], "cannot be merged into itself"),
        (["customers", "split", "99"], "no merge 99"),
        (["customers", "accept", "7"], "no suggestion 7"),
        (["customers", "import", "missing.csv"], "cannot be read"),
    ],
)
def test_mistakes_are_one_line(cli, database: Database, args: list[str], says: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 1
    assert says in result.stderr
    assert "Traceback" not in result.output
