"""tanji coordinator: routes requests, sums ciphertexts, never holds a key.

One module per step of DESIGN §2 — registry, calculations, routing, leases, aggregation,
key_holder_queue, transparency, intake — over the shared transaction helpers (transactions),
the calculation context (context) and its states (states); service is the facade the gRPC
servicers (server) call, daemon the process.
"""
