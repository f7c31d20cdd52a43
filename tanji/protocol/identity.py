"""Names every party agrees on: the coordinator's id, the roles, the software and protocol versions."""
from __future__ import annotations

from importlib import metadata
from typing import Final

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
