"""Where one calculation's time goes, read from the coordinator's own record of it: every envelope
it accepted carries the moment it arrived. Run `tanji demo` (or any calculation), then:

    .venv/bin/python bench/phases.py out/demo/state/coordinator/coordinator.db [CALCULATION_ID]

Phases: the key (request accepted → key announced), each organisation's turns (merged request or
key sent → its contribution arrived: pull latency, homomorphic work, uploads), the coordinator's
routing (a buyer's last message → the merged request it releases), the aggregate, the attestation
and the decryption. The critical path is the chain of the slowest turns, tier by tier.
"""
from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict
from datetime import datetime


def main() -> None:
    con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    cid = sys.argv[2] if len(sys.argv) > 2 else con.execute(
        "SELECT calculation_id FROM envelopes ORDER BY received_at DESC LIMIT 1").fetchone()[0]
    rows = [(t.removeprefix("MESSAGE_TYPE_"), s, r, datetime.fromisoformat(at)) for t, s, r, at in con.execute(
        "SELECT message_type, sender, receiver, received_at FROM envelopes WHERE calculation_id = ? "
        "ORDER BY received_at", (cid,))]
    t0 = rows[0][3]

    def at(kind: str, sender: str | None = None, receiver: str | None = None, last: bool = False) -> float:
        hits = [t for k, s, r, t in rows if k == kind and (sender is None or s == sender)
                and (receiver is None or r == receiver)]
        if not hits:
            raise SystemExit(f"calculation {cid} has no {kind}{' from ' + sender if sender else ''}: not finished?")
        return ((hits[-1] if last else hits[0]) - t0).total_seconds()

    key = at("KEY_ANNOUNCEMENT")
    print(f"calculation {cid}: {(rows[-1][3] - t0).total_seconds():.2f} s from request to result\n")
    print(f"{'phase':44} {'from':>7} {'to':>7} {'seconds':>8}")
    print(f"{'key (request accepted -> key announced)':44} {0:7.2f} {key:7.2f} {key:8.2f}")
    turns: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    requester = rows[0][1]
    first = at("CONTRIBUTION", requester)
    turns[requester].append((key, first))
    for k, _s, r, t in rows:
        if k == "MERGED_REQUEST":
            began = (t - t0).total_seconds()
            ends = [(tt - t0).total_seconds() for kk, ss, _, tt in rows
                    if kk == "CONTRIBUTION" and ss == r and (tt - t0).total_seconds() >= began]
            if ends:
                turns[r].append((began, ends[0]))
    for org, spans in sorted(turns.items(), key=lambda kv: kv[1][0][0]):
        for began, ended in spans:
            print(f"{'turn of ' + org:44} {began:7.2f} {ended:7.2f} {ended - began:8.2f}")
    agg, att, res = at("AGGREGATE"), at("ATTESTATION", last=True), at("RESULT")
    last_contribution = at("CONTRIBUTION", last=True)
    print(f"{'aggregate (last contribution -> aggregate)':44} {last_contribution:7.2f} {agg:7.2f} "
          f"{agg - last_contribution:8.2f}")
    print(f"{'attestation (aggregate -> attested)':44} {agg:7.2f} {att:7.2f} {att - agg:8.2f}")
    print(f"{'decryption (attested -> signed result)':44} {att:7.2f} {res:7.2f} {res - att:8.2f}")


if __name__ == "__main__":
    main()
