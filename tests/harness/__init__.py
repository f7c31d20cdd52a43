"""The one test harness: every test builds its parties, data, envelopes and worlds here.

* `paths` — where the repository, its examples and ../shared live
* `keys` — parties, their signing keys and the signed federation list (in memory or on disk)
* `data` — factor sets, node-data documents and generated supply chains
* `envelopes` — bodies and envelopes built only through `tanji.protocol.messages` with a
  `Binding`, as production builds them, and the deliberately malformed variants attacks need
* `world` — the real coordinator engine, a node and a key holder in this process
* `seeds` — that world with a valid envelope of every type a party pushes (the fuzzers' seeds)
* `processes` — federations of real processes on loopback, and what tests read from their stores
* `bare` — one real coordinator process with nobody else: the test plays every other party
* `adversary` — the mutual-TLS federation of the adversarial suite and the parties a test plays
* `evil_coordinator` — the deviating coordinator process (`python -m tests.harness.evil_coordinator`)
* `fuzzing` — hypothesis budgets and schema-aware protobuf mutations
* `outcomes` — reading refusal codes (never prose) from outcomes, statuses and CLI output
* `postgres`, `he_worker` — a throwaway PostgreSQL server; the HE deserialisers in a process of their own

No test module imports another test module: what two tests share lives here.
"""
