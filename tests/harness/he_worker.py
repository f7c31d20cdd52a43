"""The HE deserialisers in a process of their own, so a native crash cannot take pytest down.

`python -m tests.harness.he_worker SECRET_CONTEXT_FILE` reads frames from stdin — one byte of
kind, four bytes of big-endian length, the bytes — and answers one line per frame: `ok`,
`he:<HEError subclass>` or `other:<exception>: <message>`. Kinds: `c` a ciphertext under the
public context (any level and width), `t` at the transit level with 8 slots (the coordinator's
check), `p` a public context, `d` a ciphertext decrypted by the secret context (the key holder);
`a` aborts the process, as SEAL would (the harness's own test). If SEAL aborts, the process dies
and the parent sees it.
"""
from __future__ import annotations

import os
import struct
import sys

from tanji.he import default_backend
from tanji.he.errors import HEError


def main(secret_file: str) -> None:
    backend = default_backend()
    secret = backend.load_secret_context(open(secret_file, "rb").read())
    public = backend.load_public_context(secret.export())
    inp, out = sys.stdin.buffer, sys.stdout
    while True:
        head = inp.read(5)
        if len(head) < 5:
            return
        kind, n = head[:1], struct.unpack(">I", head[1:])[0]
        data = inp.read(n)
        try:
            if kind == b"c":
                public.deserialize(data)
            elif kind == b"t":
                public.deserialize(data, level=public.preset.output_level, width=8)
            elif kind == b"p":
                backend.load_public_context(data)
            elif kind == b"d":
                secret.decrypt(secret.deserialize(data))
            elif kind == b"a":
                os.abort()
            else:
                raise ValueError(f"unknown kind {kind!r}")
            reply = "ok"
        except HEError as exc:
            reply = f"he:{type(exc).__name__}"
        except Exception as exc:  # reported to the parent, which fails the test
            reply = f"other:{type(exc).__name__}: {str(exc)[:200]}".replace("\n", " ")
        out.write(reply + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
