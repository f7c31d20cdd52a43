"""Shared fixtures: where the examples and ../shared live, and small data builders."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"
SHARED_REFERENCE = SHARED / "reference" / "nmc811"
SHARED_EXPECTED = SHARED / "reference" / "nmc811.expected.json"


@pytest.fixture
def shared_reference() -> Path:
    """../shared/reference/nmc811, or skip: the project stands alone without ../shared."""
    if not SHARED_REFERENCE.is_dir() or not SHARED_EXPECTED.is_file():
        pytest.skip(f"../shared/reference is absent ({SHARED_REFERENCE}); this test checks against it")
    return SHARED_REFERENCE




@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/postgres.py); skips, or fails under
    TANJI_REQUIRE_POSTGRES=1, where PostgreSQL is not installed."""
    from tests.postgres import start_or_skip

    server = start_or_skip()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the session's server, for one test."""
    if not postgres_server.running():  # a test stopped it and failed before starting it again
        postgres_server.start()
    return postgres_server.database()
