"""The verifier's tools: keyless checks of an audit bundle. Built on tanji.protocol, tanji.he and
tanji.methodology only; imports no role (no coordinator, node or key holder code)."""
