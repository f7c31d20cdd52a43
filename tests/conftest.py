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


