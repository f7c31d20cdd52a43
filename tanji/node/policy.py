"""The supplier's own policy, enforced where the data is (DESIGN.md "Trust model").

`policy.toml` in the node's state folder:

    approved_customers = ["cell-works", "pack-assembler"]   # buyers this node answers
    min_contributors = 3    # answer only buyers whose signed declaration names ≥ 3 distinct organisations
    [rate_limit]                                            # per (root requester, this supplier product)
    calculations = 10                                       # at most this many calculations …
    days = 1                                                # … in any window of this many days
    [ceilings]              # plausibility ceilings on this node's own input (node/plausibility.py)
    kWh = 2000

(Top-level keys come before the first [table] in TOML.) Every rule applies to signed data, never
to the coordinator's word (tanji.node.buyers): the buyers are the signers of the REQUESTs merged
here; contributors are the distinct organisations a buyer's signed declaration names, this node
included, the buyer itself and the calculation's requester not; the rate limit counts the
calculations of one signed requester that used this product, whatever the root product is called.

A node with no policy file answers every buyer and says so at start-up; a buyer not
on the list gets a named refusal (CUSTOMER_NOT_APPROVED), logged and in the ledger; so does
a buyer with too few contributors (TOO_FEW_CONTRIBUTORS) — the defence against a requester that
names this product as its only input (or beside a dummy product of its own) to read its
footprint from the total — and a requester over its limit (RATE_LIMITED). A rate limit bounds
differencing (two totals that differ in one quantity give the difference); it does not prevent it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tanji.errors import DataError
from tanji.node.plausibility import parse_ceilings

POLICY_FILE = "policy.toml"


@dataclass(frozen=True)
class Policy:
    approved_customers: frozenset[str] | None = None  #: None: every customer (no list configured)
    #: (calculations, days): at most that many calculations per (root requester, supplier product) in
    #: any window of that many days; None: no limit
    rate_limit: tuple[int, float] | None = None
    #: every buyer merged into a request must name at least this many distinct organisations (this one
    #: included, itself and the requester not) in its signed declaration; None: any
    min_contributors: int | None = None
    #: unit -> largest plausible amount per declared product unit, checked at import
    ceilings: dict[str, float] = field(default_factory=dict)

    def approves(self, buyer: str, own_org: str) -> bool:
        return buyer == own_org or self.approved_customers is None or buyer in self.approved_customers


def load_policy(state: Path) -> Policy:
    path = state / POLICY_FILE
    if not path.exists():
        return Policy()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(str(path), "(document)", f"cannot read the policy: {exc}") from None
    unknown = sorted(set(doc) - {"approved_customers", "rate_limit", "min_contributors", "ceilings"})
    if unknown:
        raise DataError(str(path), unknown[0], "unknown policy setting")
    customers = doc.get("approved_customers")
    if customers is not None and (not isinstance(customers, list) or not all(isinstance(c, str) for c in customers)):
        raise DataError(str(path), "approved_customers", "must be a list of organisation ids")
    limit = doc.get("rate_limit")
    if limit is not None:
        if (not isinstance(limit, dict) or set(limit) != {"calculations", "days"}
                or not isinstance(limit["calculations"], int) or isinstance(limit["calculations"], bool)
                or limit["calculations"] < 1 or not isinstance(limit["days"], (int, float)) or limit["days"] <= 0):
            raise DataError(str(path), "rate_limit", "needs calculations (an integer ≥ 1) and days (a number > 0)")
        limit = (limit["calculations"], float(limit["days"]))
    minimum = doc.get("min_contributors")
    if minimum is not None and (not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1):
        raise DataError(str(path), "min_contributors", "must be an integer ≥ 1")
    ceilings = parse_ceilings(doc["ceilings"], str(path)) if "ceilings" in doc else {}
    return Policy(frozenset(customers) if customers is not None else None, limit, minimum, ceilings)
