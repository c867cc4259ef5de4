"""One scheduler per deployment."""

from __future__ import annotations

import pytest

from socialcrm.db import Database
from socialcrm.locks import DeploymentLockedError, deployment_lock


def test_a_second_run_on_the_same_database_is_refused(db: Database, database_url: str) -> None:
    other = Database(database_url)
    try:
        with (
            deployment_lock(db),
            pytest.raises(DeploymentLockedError, match="already drives this database"),
            deployment_lock(other),
        ):
            pass
        with deployment_lock(other):  # free again once the first run ends
            pass
    finally:
        other.dispose()
