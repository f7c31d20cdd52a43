"""Size and time limits set deliberately, on both ends of every gRPC connection.

Ciphertexts are hundreds of KiB to a few MiB, public contexts several MiB: they
move as 1 MiB chunks, so no single message comes near gRPC's defaults.
"""
from __future__ import annotations

MiB = 1024 * 1024
CHUNK_BYTES = 1 * MiB
MAX_MESSAGE_BYTES = 4 * MiB           # any one gRPC message, either direction
MAX_ENVELOPE_BYTES = 256 * 1024
MAX_ENVELOPES_PER_CALL = 64
MAX_CIPHERTEXT_BYTES = 16 * MiB
MAX_CONTEXT_BYTES = 64 * MiB
RPC_TIMEOUT_SECONDS = 30.0            # deadline on every unary call
HEARTBEAT_SECONDS = 2
LEASE_SECONDS = 20
MAX_CLOCK_SKEW_SECONDS = 300

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
