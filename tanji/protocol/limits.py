"""Size, count and time limits set deliberately, on both ends of every gRPC connection.

Ciphertexts are hundreds of KiB to a few MiB, public contexts several MiB: they
move as 1 MiB chunks, so no single message comes near gRPC's defaults. Every
limit lives here; the coordinator refuses what exceeds one by name (gRPC status
RESOURCE_EXHAUSTED, or a named refusal in a push outcome).
"""
from __future__ import annotations

MiB = 1024 * 1024
CHUNK_BYTES = 1 * MiB
#: a chunk other than an object's last must be at least this big, so an object arrives in at
#: most MAX_CHUNKS_PER_OBJECT calls (the honest client sends CHUNK_BYTES)
MIN_CHUNK_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 4 * MiB           # any one gRPC message, either direction
MAX_ENVELOPE_BYTES = 256 * 1024       # one signed envelope, in any RPC that carries one
MAX_ENVELOPES_PER_CALL = 64           # PushMessages / PullMessages batch
MAX_WORK_ITEMS_PER_CALL = 16          # PullWork batch (key holder)
MAX_PROOF_HASHES_PER_CALL = 10_000    # ProveInclusion
MAX_CIPHERTEXT_BYTES = 16 * MiB
MAX_CONTEXT_BYTES = 64 * MiB
MAX_CHUNKS_PER_OBJECT = -(-MAX_CONTEXT_BYTES // MIN_CHUNK_BYTES)
#: objects one party may upload for one calculation (an honest node uploads one per contribution,
#: request and fallback it sends; the key holder two)
MAX_OBJECTS_PER_CALCULATION = 4096
#: calculations one requester may have open (not done, failed or withheld) at once
MAX_OPEN_CALCULATIONS_PER_PARTY = 16
#: objects a re-execution (auditor, key holder) pulls at once ahead of its sums: about 20 MB in flight
FETCH_AHEAD = 8
RPC_TIMEOUT_SECONDS = 30.0            # deadline on every unary call
HEARTBEAT_SECONDS = 2
LEASE_SECONDS = 20
MAX_CLOCK_SKEW_SECONDS = 300

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
