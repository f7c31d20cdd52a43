"""Names every party agrees on: the coordinator's id, the roles, the software and protocol versions,
and the one grammar of a calculation id."""
from __future__ import annotations

import os
import re
from importlib import metadata
from typing import Final

from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb

COORDINATOR_ID: Final = "coordinator"
#: organisation ids a party may not take (FORMATS: reserved)
RESERVED_IDS: Final = frozenset({COORDINATOR_ID, "keyholder"})

ROLE_NODE: Final = "node"
ROLE_KEY_HOLDER: Final = "key_holder"
ROLE_AUDITOR: Final = "auditor"
ROLE_FACTOR_PROVIDER: Final = "factor_provider"
ROLE_COORDINATOR: Final = "coordinator"
#: roles a party on the federation list may have
LISTED_ROLES: Final = (ROLE_NODE, ROLE_KEY_HOLDER, ROLE_AUDITOR, ROLE_COORDINATOR)
#: roles a TLS certificate may name (a factor provider reads its citation counts over mTLS)
CERTIFICATE_ROLES: Final = (ROLE_COORDINATOR, ROLE_NODE, ROLE_KEY_HOLDER, ROLE_FACTOR_PROVIDER)

PROTOCOL_VERSION: Final = 1


def _version() -> str:
    try:
        return metadata.version("tanji")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


VERSION: Final = _version()
SOFTWARE_VERSION: Final = f"tanji {VERSION}"
_SOFTWARE = re.compile(r"tanji (\d+)\.\d+\.\d+\S*")


def software_incompatibility(software_version: str) -> str | None:
    """Why a peer's software cannot be spoken to, or None: it must be tanji of this major version
    (a major version changes the meaning of what the wire carries beyond the protocol number)."""
    m = _SOFTWARE.fullmatch(software_version)
    if m is None:
        return f"software version {software_version[:40]!r} is not 'tanji MAJOR.MINOR.PATCH'"
    mine = VERSION.split(".", 1)[0]
    if m.group(1) != mine:
        return (f"software version {software_version!r} has major version {m.group(1)}; "
                f"this party runs {SOFTWARE_VERSION}")
    return None


# ---------------------------------------------------------------- calculation ids
#: the one grammar of a calculation id (docs/decisions/0011): 16 to 64 lowercase letters, digits and
#: hyphens, beginning and ending with a letter or digit. It admits what `tanji calc start` makes
#: (48 hex digits), a UUID's text form and readable test ids ("calc-0000000000000001"), and no dot,
#: slash, upper case, space or control character: no id is ".", "..", a path or an option.
CALCULATION_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{14,62}[a-z0-9]")


def new_calculation_id() -> str:
    """A fresh id, as `tanji calc start` makes it: 192 random bits as 48 hex digits."""
    return os.urandom(24).hex()


def is_calculation_id(value: object) -> bool:
    return isinstance(value, str) and CALCULATION_ID_PATTERN.fullmatch(value) is not None


def check_calculation_id(value: object) -> str:
    """`value` if it is a calculation id, else a Refusal (MALFORMED) that does not echo it."""
    if not is_calculation_id(value):
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED,
                      "the calculation id is not 16 to 64 lowercase letters, digits and inner hyphens")
    assert isinstance(value, str)
    return value
