"""Fixtures every suite may use; what they build comes from tests.harness."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.paths import SHARED_EXPECTED, SHARED_REFERENCE


@pytest.fixture
def shared_reference() -> Path:
    """../shared/reference/nmc811, or skip: the project stands alone without ../shared."""
    if not SHARED_REFERENCE.is_dir() or not SHARED_EXPECTED.is_file():
        pytest.skip(f"../shared/reference is absent ({SHARED_REFERENCE}); this test checks against it")
    return SHARED_REFERENCE


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/harness/postgres.py); skips, or fails
    under TANJI_REQUIRE_POSTGRES=1, where PostgreSQL is not installed."""
    from tests.harness.postgres import start_or_skip

    server = start_or_skip()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the session's server, for one test."""
    if not postgres_server.running():  # a test stopped it and failed before starting it again
        postgres_server.start()
    return postgres_server.database()


@pytest.fixture
def world(tmp_path) -> Iterator:
    """The in-process world (tests.harness.world) on SQLite."""
    from tests.harness.world import World

    w = World(tmp_path)
    yield w
    w.close()
