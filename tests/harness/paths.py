"""Where the repository, its shipped examples and the shared reference (../shared) live."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_CHAIN = EXAMPLES / "nmc811-pack"
#: the example chain's target product
EXAMPLE_TARGET = ("pack-assembler", "PACK-NMC811-80")
SHARED = ROOT.parent / "shared"
SHARED_REFERENCE = SHARED / "reference" / "nmc811"
SHARED_EXPECTED = SHARED / "reference" / "nmc811.expected.json"
