"""The verifier's tools: keyless checks of an audit bundle. Depends on pcf/ only, never on coordinator/."""
